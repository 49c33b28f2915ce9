"""A stratified sample of the drifted frames, to queue for labeling.

Frames come from the drifted segments (or from the whole day when only the overall comparison
drifted), and are spread over camera model x brightness bucket so that the rare conditions
that made the drift (a dark new camera, say) are in the sample even when they are few.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from roadmark_pipeline.monitoring.drift import segment_labels
from roadmark_pipeline.monitoring.result import STATUS_DRIFT, DriftResult

LOG = logging.getLogger(__name__)

# Mean grey level buckets (frame_quality's brightness, 0-255), fixed so that buckets mean the
# same from one day to the next.
BRIGHTNESS_EDGES = (0.0, 50.0, 90.0, 130.0, 170.0, 256.0)
BRIGHTNESS_LABELS = ("dark", "dim", "mid", "bright", "glare")
UNKNOWN = "unknown"


class RelabelSampleError(ValueError):
    """The sample cannot be drawn as asked; the message says what to pass instead."""


def brightness_bucket(brightness: pd.Series) -> pd.Series:
    """Return the brightness bucket label of every frame (``unknown`` when not measured)."""
    buckets = pd.cut(
        brightness.astype(float), BRIGHTNESS_EDGES, labels=BRIGHTNESS_LABELS, right=False
    )
    return buckets.astype(object).where(buckets.notna(), UNKNOWN).astype(str)


@dataclass(frozen=True)
class DriftVerdict:
    """The parts of a drift verdict a relabel sample needs (from a ``DriftResult`` or its record).

    Attributes:
        status: ``drift``, ``no_drift`` or ``insufficient_data``.
        segment_column: The column the report was segmented by (e.g. ``camera_model``).
        drifted_segments: The segment values that drifted.
    """

    status: str
    segment_column: str | None
    drifted_segments: tuple[str, ...]

    @classmethod
    def of(cls, result: DriftResult) -> DriftVerdict:
        """Take the verdict of a full drift result."""
        return cls(result.status, result.segment_column, tuple(result.drifted_segments))

    @classmethod
    def from_metadata(cls, record: dict[str, object], segment_column: str) -> DriftVerdict:
        """Read the verdict back from ``DriftResult.to_metadata()`` values (a stored record)."""
        segments = str(record.get("segments_drifted") or "")
        names = tuple(name.strip() for name in segments.split(",") if name.strip())
        return cls(str(record.get("status", "")), segment_column, names)


def drifted_frames(table: pd.DataFrame, result: DriftResult | DriftVerdict) -> pd.DataFrame:
    """Return the rows the drift is about: rows of drifted segments, else all rows on drift."""
    column = result.segment_column
    if result.drifted_segments and column and column in table.columns:
        return table[segment_labels(table[column]).isin(result.drifted_segments)]
    if result.status == STATUS_DRIFT:
        return table
    return table.iloc[0:0]


def allocate(sizes: pd.Series, n: int) -> pd.Series:
    """Split ``n`` draws over strata: one each first (largest strata first), the rest pro rata.

    Args:
        sizes: Frames per stratum.
        n: Total draws, at most ``sizes.sum()``.

    Returns:
        Draws per stratum (in the order of ``sizes``), never more than its size, summing to ``n``.
    """
    order = sizes.index
    sizes = sizes.sort_values(ascending=False, kind="stable")
    take = pd.Series(0, index=sizes.index)
    take.iloc[: min(n, len(sizes))] = 1
    remaining = n - int(take.sum())
    while remaining > 0:
        room = sizes - take
        share = room / room.sum() * remaining
        extra = np.minimum(np.floor(share), room).astype(int)
        if extra.sum() == 0:  # hand out the last few by largest remainder
            extra = pd.Series(0, index=sizes.index)
            extra[(share - np.floor(share)).where(room > 0, -1).nlargest(remaining).index] = 1
        take += extra
        remaining = n - int(take.sum())
    return take.reindex(order)


def select_relabel_sample(
    table: pd.DataFrame, result: DriftResult | DriftVerdict, n: int, seed: int = 0
) -> pd.DataFrame:
    """Draw a sample of drifted frames stratified by camera model and brightness bucket.

    Args:
        table: The telemetry rows the drift report judged (one row per frame).
        result: The drift report's verdict.
        n: How many frames to draw (fewer when fewer drifted frames exist).
        seed: Random seed; the same inputs and seed give the same sample.

    Returns:
        The drawn rows with two added columns, ``brightness_bucket`` and ``stratum``, sorted by
        stratum then ``ts``; empty when nothing drifted.

    Raises:
        RelabelSampleError: When ``n`` is not positive.
    """
    if n < 1:
        raise RelabelSampleError(f"n={n}; pass the number of frames to queue (at least 1)")
    pool = drifted_frames(table, result)
    if pool.empty:
        LOG.info("no drifted frames (status %s): nothing to relabel", result.status)
        return pool.assign(brightness_bucket=pd.Series(dtype=str), stratum=pd.Series(dtype=str))

    camera = segment_labels(pool["camera_model"]) if "camera_model" in pool else UNKNOWN
    bucket = brightness_bucket(pool["brightness"]) if "brightness" in pool else UNKNOWN
    pool = pool.assign(brightness_bucket=bucket)
    pool = pool.assign(
        stratum=pd.Series(camera, index=pool.index) + "/" + pool["brightness_bucket"]
    )

    take = allocate(pool["stratum"].value_counts(), min(n, len(pool)))
    rng = np.random.default_rng(seed)
    picks = [
        group.iloc[np.sort(rng.choice(len(group), size=int(take[name]), replace=False))]
        for name, group in pool.groupby("stratum", sort=True)
        if take[name] > 0
    ]
    sample = pd.concat(picks)
    order = ["stratum", "ts"] if "ts" in sample.columns else ["stratum"]
    sample = sample.sort_values(order, kind="stable")
    LOG.info(
        "relabel sample: %d of %d drifted frames over %d strata", len(sample), len(pool), len(picks)
    )
    return sample
