"""Per-class score thresholds chosen on the test set and stored with the release.

One global threshold suits no class: a rare, hard class (a crosswalk seen from afar) scores
lower than a common one. Each class gets the threshold at its best F1, or the lowest one
that reaches a target precision when the road authority cares more about false alarms.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from roadmark_pipeline.model.evaluation import Evaluation
from roadmark_pipeline.model.metrics import best_f1, precision_recall

LOG = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.25


class ThresholdError(ValueError):
    """A threshold rule that cannot be applied."""


def _target_precision_point(
    recall: np.ndarray, precision: np.ndarray, scores: np.ndarray, target: float
) -> tuple[float, float, float] | None:
    """The lowest score whose cumulative precision still reaches ``target`` (most recall)."""
    ends = np.append(scores[1:] != scores[:-1], True)
    good = np.flatnonzero((precision >= target) & ends)
    if good.size == 0:
        return None
    index = int(good[-1])
    return float(scores[index]), float(precision[index]), float(recall[index])


def choose_class_thresholds(
    evaluation: Evaluation,
    *,
    target_precision: float | None = None,
    default: float = DEFAULT_THRESHOLD,
) -> pd.DataFrame:
    """Choose one score threshold per class.

    Args:
        evaluation: An evaluation with its matched detections.
        target_precision: When given, the lowest threshold reaching this precision;
            otherwise the best-F1 threshold.
        default: Threshold for classes the test set cannot inform (no ground truth, no
            detections, or the target never reached).

    Returns:
        One row per class (taxonomy order): ``threshold``, ``precision``, ``recall``, ``f1``
        at it, and ``rule`` (``best_f1``, ``precision>=X`` or ``default: <why>``).

    Raises:
        ThresholdError: When the target precision is outside (0, 1] or the evaluation has
            no matched detections (rebuilt from a file).
    """
    if target_precision is not None and not 0.0 < target_precision <= 1.0:
        raise ThresholdError(f"target_precision={target_precision}: pass a value in (0, 1]")
    if not evaluation.detections:
        raise ThresholdError("the evaluation carries no detections; pass evaluate_detections'")
    rows = {}
    for name in evaluation.class_names:
        rows[name] = _class_threshold(evaluation, name, target_precision, default)
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "class"
    LOG.info("class thresholds: %s", table["threshold"].round(3).to_dict())
    return table


def _class_threshold(
    evaluation: Evaluation, name: str, target: float | None, default: float
) -> dict[str, float | str]:
    det = evaluation.detections[name]
    if det.n_gt == 0 or len(det.scores) == 0:
        why = "no ground truth" if det.n_gt == 0 else "no detections"
        return _default_row(default, why)
    recall, precision, ordered = precision_recall(det.hits[:, 0], det.scores, det.n_gt)
    if target is None:
        threshold, f1, prec, rec = best_f1(recall, precision, ordered)
        if f1 == 0.0:
            return _default_row(default, "no true positive")
        return {
            "threshold": threshold,
            "precision": prec,
            "recall": rec,
            "f1": f1,
            "rule": "best_f1",
        }
    point = _target_precision_point(recall, precision, ordered, target)
    if point is None:
        return _default_row(default, f"precision {target:g} never reached")
    threshold, prec, rec = point
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {
        "threshold": threshold,
        "precision": prec,
        "recall": rec,
        "f1": f1,
        "rule": f"precision>={target:g}",
    }


def _default_row(default: float, why: str) -> dict[str, float | str]:
    return {
        "threshold": default,
        "precision": np.nan,
        "recall": np.nan,
        "f1": np.nan,
        "rule": f"default: {why}",
    }


def thresholds_for_runtime(table: pd.DataFrame) -> list[float]:
    """Return the thresholds as the list the edge runtime reads (index = class id)."""
    return [round(float(value), 6) for value in table["threshold"]]
