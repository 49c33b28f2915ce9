"""Slice columns: the ways frames are grouped when a score is broken down (clip, camera, light).

Scores per slice show *where* a model fails. The frames table carries the raw values
(``clip``, ``camera_model``, ``brightness`` 0-255, ``time_of_day`` when known); this module
derives the bucketed columns and names the columns every breakdown uses.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Mean grey level (jetson_runtime.quality.frame_quality "brightness", 0-255) -> bucket name.
# Edges chosen for dashcam footage: below 60 is night or a tunnel, above 170 glare or snow.
BRIGHTNESS_EDGES = (0.0, 60.0, 100.0, 170.0, 256.0)
BRIGHTNESS_BUCKETS = ("dark", "dim", "normal", "bright")

# Columns a breakdown uses when the frames table has them, in reporting order.
KNOWN_SLICE_COLUMNS = ("clip", "camera_model", "brightness_bucket", "time_of_day")


def brightness_bucket(brightness: pd.Series) -> pd.Series:
    """Bucket mean grey levels into dark / dim / normal / bright ("unknown" when missing)."""
    buckets = pd.cut(
        brightness.astype(float),
        bins=list(BRIGHTNESS_EDGES),
        labels=list(BRIGHTNESS_BUCKETS),
        right=False,
    )
    return buckets.astype(object).where(buckets.notna(), "unknown").astype(str)


def with_slice_columns(frames: pd.DataFrame) -> pd.DataFrame:
    """Return ``frames`` with ``brightness_bucket`` added when a ``brightness`` column exists."""
    if "brightness" in frames.columns and "brightness_bucket" not in frames.columns:
        frames = frames.assign(brightness_bucket=brightness_bucket(frames["brightness"]))
    return frames


def slice_columns(frames: pd.DataFrame, wanted: tuple[str, ...] | None = None) -> list[str]:
    """Return the slice columns to report on: ``wanted``, or the known ones that are present.

    Columns whose values are all missing are left out.
    """
    candidates = wanted if wanted is not None else KNOWN_SLICE_COLUMNS
    return [
        column
        for column in candidates
        if column in frames.columns and not frames[column].isna().all()
    ]


def slice_values(frames: pd.DataFrame, column: str) -> pd.Series:
    """Return a slice column as strings, missing values shown as ``"unknown"``."""
    values = frames[column]
    return values.astype(object).where(values.notna(), "unknown").astype(str)


def share_of_frames(frames: pd.DataFrame, column: str) -> pd.Series:
    """Return each slice value's share of the frames (sums to 1)."""
    counts = slice_values(frames, column).value_counts()
    return counts / max(int(np.sum(counts.to_numpy())), 1)
