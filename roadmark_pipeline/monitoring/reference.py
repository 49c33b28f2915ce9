"""The drift reference: training frames and validation predictions in telemetry column names.

Input metrics come from the frames manifest (measured with ``jetson_runtime.quality`` like the
device does); output metrics are computed from the validation predictions exactly as the device
computes them: boxes at or above the release's per-class thresholds, counted per class.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence

import numpy as np
import pandas as pd

from roadmark_pipeline.monitoring.schema import CLASS_COLUMN_PREFIX

LOG = logging.getLogger(__name__)

FRAME_COLUMNS = ("frame_id", "brightness", "contrast", "blur", "overexposed_share")
FRAME_COLUMNS += ("underexposed_share",)
PREDICTION_COLUMNS = ("frame_id", "class_name", "score")
DEFAULT_THRESHOLD = 0.25


class ReferenceInputError(ValueError):
    """The frames manifest or the predictions table lacks what the reference needs."""


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    """Raise a clear error naming the table and its missing columns."""
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise ReferenceInputError(
            f"{what} lacks columns {missing}; it has {list(frame.columns)}. Pass the "
            f"{what} as the video and model rooms write it"
        )


def _thresholds(class_names: Sequence[str], thresholds: Mapping[str, float] | float) -> pd.Series:
    """Return the score threshold of every class name."""
    if isinstance(thresholds, Mapping):
        unknown = sorted(set(thresholds) - set(class_names))
        if unknown:
            raise ReferenceInputError(
                f"thresholds name unknown classes {unknown}; use {class_names}"
            )
        return pd.Series(
            {name: float(thresholds.get(name, DEFAULT_THRESHOLD)) for name in class_names}
        )
    return pd.Series(dict.fromkeys(class_names, float(thresholds)))


def _kept_boxes(
    predictions: pd.DataFrame,
    class_names: Sequence[str],
    thresholds: Mapping[str, float] | float,
) -> pd.DataFrame:
    """Return the predicted boxes the device would report: known classes at their thresholds."""
    boxes = predictions.copy()
    if "class_name" not in boxes.columns:
        boxes["class_name"] = [class_names[int(i)] for i in boxes["class_id"]]
    known = boxes["class_name"].isin(class_names)
    if not known.all():
        LOG.warning("%d predicted boxes of unknown classes ignored", int((~known).sum()))
    boxes = boxes[known]
    limits = boxes["class_name"].map(_thresholds(class_names, thresholds))
    return boxes[boxes["score"].astype(float) >= limits]


def output_metrics(
    predictions: pd.DataFrame,
    frame_ids: Collection[str],
    class_names: Sequence[str],
    thresholds: Mapping[str, float] | float = DEFAULT_THRESHOLD,
) -> pd.DataFrame:
    """Compute per-frame output metrics from a predictions boxes table.

    Args:
        predictions: Boxes table with ``frame_id``, ``class_name`` (or ``class_id``), ``score``.
        frame_ids: Every frame the model ran on, including frames with no box.
        class_names: Class names in id order.
        thresholds: Score threshold per class name, or one for all classes.

    Returns:
        One row per frame id: ``frame_id``, ``n_detections``, ``det_<class>`` per class,
        ``mean_confidence`` and ``max_confidence`` (NaN when empty) and ``empty``.
    """
    kept = _kept_boxes(predictions, class_names, thresholds)
    kept = kept[kept["frame_id"].isin(frame_ids)]
    index = pd.Index(list(dict.fromkeys(frame_ids)), name="frame_id")

    counts = pd.crosstab(kept["frame_id"], kept["class_name"]).reindex(
        index=index, columns=list(class_names), fill_value=0
    )
    table = counts.rename(columns=lambda name: f"{CLASS_COLUMN_PREFIX}{name}").astype("int64")
    table.insert(0, "n_detections", counts.sum(axis=1).astype("int64"))
    scores = kept.groupby("frame_id")["score"].agg(["mean", "max"]).reindex(index)
    table["mean_confidence"] = scores["mean"].astype(float)
    table["max_confidence"] = scores["max"].astype(float)
    table["empty"] = table["n_detections"].eq(0)
    return table.reset_index()


def reference_from_training(
    frames: pd.DataFrame,
    predictions: pd.DataFrame | None,
    class_names: Sequence[str],
    *,
    thresholds: Mapping[str, float] | float = DEFAULT_THRESHOLD,
    predicted_frame_ids: Collection[str] | None = None,
) -> pd.DataFrame:
    """Build the drift reference in telemetry column names.

    Args:
        frames: The training frames' manifest (``frame_id``, the five input metrics, and
            ``camera_model``, ``width``, ``height`` when known).
        predictions: The model's boxes on the validation frames; None for an input-only
            reference (output columns are then all NaN and not evaluated).
        class_names: Class names in id order (``roadmark_pipeline.taxonomy.class_names()``).
        thresholds: The release's score threshold per class name, or one for all.
        predicted_frame_ids: The frames the model ran on (the validation split). When None,
            every frame of ``frames`` counts as predicted, so a frame without boxes is empty.

    Returns:
        One row per training frame: ``row_id`` (= frame id), ``frame_id``, the manifest's input
        metrics and camera columns, and the output columns (NaN for frames not predicted).

    Raises:
        ReferenceInputError: When a table lacks a needed column.
    """
    _require(frames, FRAME_COLUMNS, "frames manifest")
    reference = frames.drop_duplicates("frame_id").reset_index(drop=True)
    reference.insert(0, "row_id", reference["frame_id"].astype(str))
    if predictions is None:
        outputs = pd.DataFrame(columns=["frame_id", "n_detections", "mean_confidence", "empty"])
        LOG.info("reference from %d frames without predictions: input metrics only", len(frames))
        return reference.merge(outputs, on="frame_id", how="left")

    _require(predictions, ("frame_id", "score"), "predictions table")
    if "class_name" not in predictions.columns:
        _require(predictions, ("class_id",), "predictions table")
    known = set(reference["frame_id"])
    predicted = reference["frame_id"] if predicted_frame_ids is None else predicted_frame_ids
    predicted = [fid for fid in dict.fromkeys(predicted) if fid in known]
    outputs = output_metrics(predictions, predicted, class_names, thresholds)

    merged = reference.merge(outputs, on="frame_id", how="left")
    merged["empty"] = merged["empty"].astype(object).where(merged["empty"].notna(), np.nan)
    LOG.info("reference: %d frames, %d with output metrics", len(merged), len(outputs))
    return merged
