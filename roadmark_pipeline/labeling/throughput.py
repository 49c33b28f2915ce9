"""Labeling throughput from Label Studio's timestamps, and the ETA to a target count per class.

Two clocks are read from the export: ``lead_time`` (seconds the annotator had the task open,
measured by Label Studio's editor) and ``created_at`` (when each annotation was submitted). The
lead time gives the working rate; the submission times give the rate over active sessions (gaps
longer than ``idle_gap_s`` are breaks, not work). The ETA answers "how long until we have m
examples of yellow_marking?" from the current count, how often the class shows up per labelled
frame, and the team's frames per hour.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

LOG = logging.getLogger(__name__)

DEFAULT_IDLE_GAP_S = 900.0
RATE_COLUMNS = [
    "annotator",
    "annotations",
    "skipped",
    "boxes",
    "hours_lead",
    "hours_active",
    "per_hour_lead",
    "per_hour_active",
    "per_hour",
    "boxes_per_hour",
    "first_at",
    "last_at",
]


def annotation_rates(
    annotations: pd.DataFrame, *, idle_gap_s: float = DEFAULT_IDLE_GAP_S
) -> pd.DataFrame:
    """Annotations per hour per annotator.

    Args:
        annotations: ``ExportTables.annotations`` (``annotator, was_cancelled, n_boxes,
            created_at, lead_time_s``).
        idle_gap_s: A pause between two submissions longer than this ends a session.

    Returns:
        One row per annotator (``RATE_COLUMNS``). ``per_hour`` is the lead-time rate where
        Label Studio recorded lead times, else the active-session rate.
    """
    rows = []
    for name, group in annotations.groupby("annotator", sort=True):
        live = group[~group["was_cancelled"].astype(bool)]
        hours_lead = float(group["lead_time_s"].sum(min_count=1)) / 3600.0
        hours_active = _active_hours(group["created_at"], idle_gap_s)
        per_hour_lead = len(live) / hours_lead if hours_lead > 0 else np.nan
        per_hour_active = len(live) / hours_active if hours_active > 0 else np.nan
        hours = hours_lead if hours_lead > 0 else hours_active
        rows.append(
            {
                "annotator": name,
                "annotations": len(live),
                "skipped": len(group) - len(live),
                "boxes": int(live["n_boxes"].sum()),
                "hours_lead": hours_lead,
                "hours_active": hours_active,
                "per_hour_lead": per_hour_lead,
                "per_hour_active": per_hour_active,
                "per_hour": per_hour_lead if hours_lead > 0 else per_hour_active,
                "boxes_per_hour": live["n_boxes"].sum() / hours if hours > 0 else np.nan,
                "first_at": group["created_at"].min(),
                "last_at": group["created_at"].max(),
            }
        )
    table = pd.DataFrame(rows, columns=RATE_COLUMNS)
    LOG.info(
        "throughput: %d annotators, team %.1f annotations/hour", len(table), table["per_hour"].sum()
    )
    return table


def _active_hours(created_at: pd.Series, idle_gap_s: float) -> float:
    """Hours inside sessions: gaps up to ``idle_gap_s``, plus one typical gap per session start.

    The first annotation of a session took time too, which no gap measures; it is counted as
    the median in-session gap.
    """
    times = pd.to_datetime(created_at.dropna(), utc=True).sort_values()
    if len(times) < 2:
        return np.nan
    gaps = times.diff().dt.total_seconds().to_numpy()[1:]
    working = gaps[gaps <= idle_gap_s]
    if working.size == 0:
        return np.nan
    sessions = 1 + int((gaps > idle_gap_s).sum())
    return float(working.sum() + sessions * np.median(working)) / 3600.0


def eta_per_class(
    boxes: pd.DataFrame,
    frames_labelled: int,
    rates: pd.DataFrame,
    targets: Mapping[str, int] | int,
    class_names: Sequence[str],
    *,
    annotators_per_frame: float = 1.0,
    queued_frames: int | None = None,
) -> pd.DataFrame:
    """Estimate how long until each class reaches its target number of examples.

    Args:
        boxes: The boxes counted as examples (the consensus boxes), with ``class_name``.
        frames_labelled: Frames those boxes come from (labelled and reviewed-empty).
        rates: From :func:`annotation_rates`; the team rate is the sum of ``per_hour``.
        targets: Wanted examples per class name, or one number for every class.
        class_names: Class names to report (the taxonomy).
        annotators_per_frame: Mean annotators per frame (overlap makes frames cost more).
        queued_frames: Unlabelled frames waiting in Label Studio, to tell whether the target is
            reachable without sampling more.

    Returns:
        One row per class: ``class_name, have, target, needed, per_frame, frames_per_hour,
        frames_needed, eta_hours, reachable, note``. ``eta_hours`` is inf when the class has
        not been seen (its frequency is unknown).
    """
    wanted = (
        targets if isinstance(targets, Mapping) else {name: int(targets) for name in class_names}
    )
    counts = boxes["class_name"].value_counts() if len(boxes) else pd.Series(dtype=int)
    frames_per_hour = float(rates["per_hour"].sum()) / max(annotators_per_frame, 1e-9)

    rows = []
    for name in class_names:
        have, target = int(counts.get(name, 0)), int(wanted.get(name, 0))
        needed = max(target - have, 0)
        per_frame = have / frames_labelled if frames_labelled else 0.0
        frames_needed = needed / per_frame if per_frame > 0 else (0.0 if needed == 0 else np.inf)
        eta = frames_needed / frames_per_hour if frames_per_hour > 0 else np.inf
        reachable = None if queued_frames is None else bool(frames_needed <= queued_frames)
        rows.append(
            {
                "class_name": name,
                "have": have,
                "target": target,
                "needed": needed,
                "per_frame": per_frame,
                "frames_per_hour": frames_per_hour,
                "frames_needed": frames_needed,
                "eta_hours": 0.0 if needed == 0 else eta,
                "reachable": reachable,
                "note": _note(needed, per_frame, reachable),
            }
        )
    return pd.DataFrame(rows)


def _note(needed: int, per_frame: float, reachable: bool | None) -> str:
    if needed == 0:
        return "target reached"
    if per_frame == 0:
        return "not seen yet: sample frames that show it (drift relabel queue, targeted drives)"
    if reachable is False:
        return "more frames than queued: sample more"
    return ""
