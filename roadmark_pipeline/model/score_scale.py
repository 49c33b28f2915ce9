"""Detector scores put on the confidence scale cleanlab's object-detection search assumes.

cleanlab 2.9 reads prediction scores against fixed thresholds: a label box can be called badly
located only by predictions above 0.5, overlooked or swapped only by predictions above 0.95. A
YOLO model trained for minutes from scratch rarely scores above 0.9 (its class target is the
box's IoU, not 1), so on raw scores two of the three issue types never fire. Measured on the
shipped clips (docs/labeling.md): the same out-of-fold predictions ranked planted errors at
precision@10 0.49 raw and 0.73 after this mapping (base rate 0.375, 10 seeds).

The mapping is monotone (the model's ranking of its own boxes is kept) and is read off the
predictions' precision against the labels: the score above which ``high_precision`` of the
predictions match a label box (same class, IoU >= 0.5) becomes 0.95, the score above which half
of them do becomes 0.5. The labels being audited take part; with errors on a few percent of
boxes the pooled precision curve hardly moves.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from roadmark_pipeline.model.label_quality import LabelQualityError
from roadmark_pipeline.model.metrics import match_detections

LOG = logging.getLogger(__name__)

CLEANLAB_LOW = 0.5  # cleanlab 2.9 LOW_PROBABILITY_THRESHOLD (badly located)
CLEANLAB_HIGH = 0.95  # cleanlab 2.9 HIGH_PROBABILITY_THRESHOLD (overlooked, swapped)
_XYXY = ["x1", "y1", "x2", "y2"]


@dataclass(frozen=True)
class ScoreScale:
    """A monotone piecewise-linear map from raw scores to cleanlab's scale.

    Attributes:
        low: Raw score mapped to ``CLEANLAB_LOW``.
        high: Raw score mapped to ``CLEANLAB_HIGH`` (``inf`` when no score is that precise).
        top: Raw score mapped to 1.
    """

    low: float
    high: float
    top: float

    def apply(self, scores: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Map raw scores (0 stays 0, ``low`` -> 0.5, ``high`` -> 0.95, ``top`` -> 1)."""
        raw = np.asarray(scores, dtype=np.float64)
        if not np.isfinite(self.high):
            return np.interp(raw, [0.0, self.low, max(self.top, self.low + 1e-9)], [0.0, 0.5, 0.9])
        low = min(self.low, self.high - 1e-9)
        top = max(self.top, self.high + 1e-9)
        return np.interp(raw, [0.0, low, self.high, top], [0.0, CLEANLAB_LOW, CLEANLAB_HIGH, 1.0])


def match_flags(
    predictions: pd.DataFrame, labels: pd.DataFrame, iou_threshold: float = 0.5
) -> npt.NDArray[np.bool_]:
    """Whether each prediction matches a label box of its class (greedy by score, per frame).

    Returns:
        One flag per row of ``predictions``, in its order.
    """
    flags = np.zeros(len(predictions), dtype=bool)
    rows = predictions.reset_index(drop=True)
    truth = {key: group for key, group in labels.groupby(["frame_id", "class_id"])}
    for key, group in rows.groupby(["frame_id", "class_id"]):
        wanted = truth.get(key)
        if wanted is None:
            continue
        hits = match_detections(
            wanted[_XYXY].to_numpy(np.float64),
            group[_XYXY].to_numpy(np.float64),
            group["score"].to_numpy(np.float64),
            np.array([iou_threshold]),
        )
        flags[group.index.to_numpy()] = hits[:, 0]
    return flags


def fit_score_scale(
    predictions: pd.DataFrame,
    labels: pd.DataFrame,
    *,
    high_precision: float = 0.8,
    low_precision: float = 0.5,
) -> ScoreScale:
    """Read the scale off the predictions' precision against the labels, all classes pooled.

    Args:
        predictions: Boxes table with ``score`` (out of sample, e.g. ``cross_val_predictions``).
        labels: The annotated boxes of the same frames.
        high_precision: Precision of the predictions at or above the score mapped to 0.95.
        low_precision: Precision at or above the score mapped to 0.5.

    Returns:
        The :class:`ScoreScale`; ``high`` is ``inf`` when no score reaches ``high_precision``
        (the map then stays below 0.95: the model is never sure enough to call a box missing).
    """
    order = np.argsort(-predictions["score"].to_numpy(np.float64), kind="stable")
    scores = predictions["score"].to_numpy(np.float64)[order]
    hits = match_flags(predictions, labels)[order]
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)

    def score_at(level: float) -> float:
        reached = np.flatnonzero(precision >= level)
        return float(scores[reached.max()]) if len(reached) else float("inf")

    top = float(scores[0]) if len(scores) else 1.0
    scale = ScoreScale(
        low=min(score_at(low_precision), top), high=score_at(high_precision), top=top
    )
    LOG.info(
        "score scale: raw %.3f -> 0.5, %.3f -> 0.95 (precision %.2f / %.2f over %d predictions)",
        scale.low,
        scale.high,
        low_precision,
        high_precision,
        len(scores),
    )
    return scale


def rescale_for_cleanlab(
    predictions: pd.DataFrame,
    labels: pd.DataFrame,
    *,
    high_precision: float = 0.8,
    low_precision: float = 0.5,
) -> pd.DataFrame:
    """Put out-of-sample prediction scores on cleanlab's scale before ``find_label_issues``.

    Args:
        predictions: Boxes table with ``score``.
        labels: The annotated boxes being audited.
        high_precision: See :func:`fit_score_scale`.
        low_precision: See :func:`fit_score_scale`.

    Returns:
        A copy with ``score`` mapped and the model's own score kept as ``raw_score``.

    Raises:
        LabelQualityError: When a table lacks a boxes column.
    """
    for name, table, needed in (
        ("predictions", predictions, ["frame_id", "class_id", *_XYXY, "score"]),
        ("labels", labels, ["frame_id", "class_id", *_XYXY]),
    ):
        missing = [column for column in needed if column not in table.columns]
        if missing:
            raise LabelQualityError(f"{name} lack columns {missing}; pass a boxes table")
    if predictions.empty:
        LOG.warning("score scale: no predictions to rescale")
        return predictions.assign(raw_score=predictions["score"])
    scale = fit_score_scale(
        predictions, labels, high_precision=high_precision, low_precision=low_precision
    )
    return predictions.assign(
        raw_score=predictions["score"], score=scale.apply(predictions["score"])
    )
