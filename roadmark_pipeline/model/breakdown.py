"""Scores per slice and the error-analysis table that decides what to improve next.

For each slice (a clip or camera, a brightness bucket, a time of day) the model's score is set
against a human-level estimate: the annotators' agreement on those frames where two or more
annotators labelled them, else a configured value. The gap says how much better the model
could get there, the slice's share of the data says how much that matters, and their product
(the priority) orders the work.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from roadmark_pipeline.model.evaluation import evaluate_detections
from roadmark_pipeline.model.slices import slice_columns, slice_values, with_slice_columns

LOG = logging.getLogger(__name__)

DEFAULT_HUMAN_LEVEL = 0.9


def slice_metrics(
    ground_truth: pd.DataFrame,
    predictions: pd.DataFrame,
    frames: pd.DataFrame,
    class_names: Sequence[str],
    *,
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Evaluate the detections separately on each slice of the frames.

    Args:
        ground_truth: Boxes table of the test frames.
        predictions: Predictions with ``score``.
        frames: Test frames with slice columns (``clip``, ``camera_model``, ``brightness``...).
        class_names: Taxonomy order.
        columns: Slice columns to use; the known ones present when omitted.

    Returns:
        One row per (``slice``, ``value``): ``n_frames``, ``share`` (of the test frames),
        ``n_gt``, ``map50``, ``map50_95`` and ``ap50:<class>`` per class (NaN without truth).
    """
    frames = with_slice_columns(frames)
    rows = []
    for column in slice_columns(frames, tuple(columns) if columns is not None else None):
        values = slice_values(frames, column)
        for value in sorted(values.unique()):
            subset = frames[(values == value).to_numpy()]
            result = evaluate_detections(ground_truth, predictions, subset, class_names)
            row = {
                "slice": column,
                "value": value,
                "n_frames": len(subset),
                "share": len(subset) / len(frames),
                "n_gt": int(result.per_class["n_gt"].sum()),
                "map50": result.map50,
                "map50_95": result.map50_95,
            }
            row.update({f"ap50:{name}": result.per_class.at[name, "ap50"] for name in class_names})
            rows.append(row)
    return pd.DataFrame(rows)


def _human_level(
    subset_ids: pd.Series, agreement: pd.Series | None, default: float
) -> tuple[float, str]:
    """Mean annotator agreement over the slice's frames that have one, else the default."""
    if agreement is not None:
        known = agreement.reindex(subset_ids.to_numpy()).dropna()
        if len(known):
            return float(known.mean()), f"annotator agreement ({len(known)} frames)"
    return default, "configured"


def error_analysis(
    slice_table: pd.DataFrame,
    frames: pd.DataFrame,
    *,
    agreement: pd.Series | None = None,
    human_level: float = DEFAULT_HUMAN_LEVEL,
    metric: str = "map50",
) -> pd.DataFrame:
    """Build the error-analysis table: score, human level, gap, share, priority.

    Args:
        slice_table: From :func:`slice_metrics`.
        frames: The same test frames (to find each slice's frames).
        agreement: frame_id -> agreement between annotators on that frame (0..1, e.g. the
            consensus F1 the labeling room computes); frames without one use ``human_level``.
        human_level: Configured human-level score where no agreement is known.
        metric: The score column compared with the human level.

    Returns:
        Rows ``slice, value, score, human_level, human_source, gap, share, priority`` sorted by
        priority (gap x share), largest first; slices without ground truth last (NaN score).
    """
    frames = with_slice_columns(frames)
    rows = []
    for record in slice_table.itertuples(index=False):
        values = slice_values(frames, record.slice)
        subset_ids = frames.loc[(values == record.value).to_numpy(), "frame_id"]
        human, source = _human_level(subset_ids, agreement, human_level)
        score = float(getattr(record, metric))
        gap = max(human - score, 0.0) if not np.isnan(score) else np.nan
        rows.append(
            {
                "slice": record.slice,
                "value": record.value,
                "score": score,
                "human_level": human,
                "human_source": source,
                "gap": gap,
                "share": float(record.share),
                "priority": gap * float(record.share),
            }
        )
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table = table.sort_values("priority", ascending=False, na_position="last", ignore_index=True)
    top = table.iloc[0]
    LOG.info(
        "error analysis: top priority %s=%s (gap %.3f, share %.2f)",
        top["slice"],
        top["value"],
        top["gap"],
        top["share"],
    )
    return table
