"""Detector evaluation on a test split: AP per class at several class-score thresholds.

Our own numpy implementation (see :mod:`roadmark_pipeline.model.metrics` for the matching and
AP rules). A class with no ground-truth box in the test frames gets NaN, never 0: the data
cannot say how the model does on it, and a 0 would drag the mean down for no reason.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from roadmark_pipeline.model.metrics import (
    IOU_THRESHOLDS,
    best_f1,
    class_average_precision,
    match_detections,
    precision_recall,
)

LOG = logging.getLogger(__name__)

SCORE_THRESHOLDS = (0.005, 0.01, 0.05, 0.1, 0.5)
_BOX_COLUMNS = ("frame_id", "class_id", "x1", "y1", "x2", "y2")


class EvaluationError(ValueError):
    """Ground truth or predictions are not tables the evaluation can read."""


@dataclass
class ClassDetections:
    """All detections of one class over the test frames, matched against its ground truth.

    Attributes:
        hits: (M, T) true-positive flags per IoU threshold (``IOU_THRESHOLDS``).
        scores: (M,) detection scores.
        frame_ids: (M,) frame of each detection.
        n_gt: Ground-truth boxes of the class.
    """

    hits: npt.NDArray[np.bool_]
    scores: npt.NDArray[np.float64]
    frame_ids: npt.NDArray[np.object_]
    n_gt: int

    def above(self, threshold: float) -> ClassDetections:
        """Return only the detections scoring at least ``threshold``."""
        keep = self.scores >= threshold
        return ClassDetections(self.hits[keep], self.scores[keep], self.frame_ids[keep], self.n_gt)


@dataclass
class Evaluation:
    """The evaluation of one model on one test set.

    Attributes:
        ap_table: Index = class-score threshold, one column per class: AP50 with detections
            below the threshold discarded; NaN for classes without ground truth.
        map50: Mean AP at IoU 0.5 over classes with ground truth (all detections).
        map50_95: Mean AP over IoU 0.50:0.95 over the same classes.
        per_class: One row per class: n_gt, n_pred, ap50, ap50_95, best-F1 threshold, f1,
            precision and recall at that threshold.
        pr_curves: class -> (recall, precision) at IoU 0.5, detections by decreasing score.
        class_names: Taxonomy order.
        n_frames: Frames evaluated.
        detections: class -> matched detections (kept for thresholds and slices).
        test_fingerprint: Hash of the test frames and their ground truth; two evaluations
            are comparable only when it is equal.
        dataset_version: The dataset version evaluated on, when the caller sets it.
    """

    ap_table: pd.DataFrame
    map50: float
    map50_95: float
    per_class: pd.DataFrame
    pr_curves: dict[str, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]]
    class_names: tuple[str, ...]
    n_frames: int
    detections: dict[str, ClassDetections] = field(default_factory=dict, repr=False)
    test_fingerprint: str = ""
    dataset_version: str = ""

    def evaluated_classes(self) -> list[str]:
        """Return the classes with ground truth in the test set."""
        return [name for name in self.class_names if self.per_class.at[name, "n_gt"] > 0]

    def summary(self) -> dict[str, float | int | str]:
        """Return the headline numbers as plain values."""
        return {
            "map50": self.map50,
            "map50_95": self.map50_95,
            "n_frames": self.n_frames,
            "n_classes_evaluated": len(self.evaluated_classes()),
            "test_fingerprint": self.test_fingerprint,
            "dataset_version": self.dataset_version,
        }

    def to_dict(self) -> dict[str, Any]:
        """Return the tables and numbers as JSON-ready values (curves and matches left out)."""
        return {
            **self.summary(),
            "class_names": list(self.class_names),
            "ap_table": json.loads(self.ap_table.to_json(orient="split")),
            "per_class": json.loads(self.per_class.to_json(orient="split")),
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Evaluation:
        """Rebuild an evaluation saved with :meth:`to_dict` (without curves and matches)."""
        ap_table = _frame_from_split(values["ap_table"], "score_threshold")
        per_class = _frame_from_split(values["per_class"], "class")
        return cls(
            ap_table=ap_table,
            map50=float(values["map50"]),
            map50_95=float(values["map50_95"]),
            per_class=per_class,
            pr_curves={},
            class_names=tuple(values["class_names"]),
            n_frames=int(values["n_frames"]),
            test_fingerprint=str(values.get("test_fingerprint", "")),
            dataset_version=str(values.get("dataset_version", "")),
        )


def _frame_from_split(values: dict[str, Any], index_name: str) -> pd.DataFrame:
    table = pd.DataFrame(values["data"], index=values["index"], columns=values["columns"])
    table.index.name = index_name
    return table.astype(float) if index_name == "score_threshold" else table


def fingerprint_test_set(ground_truth: pd.DataFrame, frame_ids: set[str]) -> str:
    """Hash the evaluated frame ids and their ground-truth boxes (16 hex characters)."""
    digest = hashlib.sha256()
    digest.update("\n".join(sorted(frame_ids)).encode())
    columns = list(_BOX_COLUMNS)
    rows = ground_truth[columns].sort_values(columns).itertuples(index=False)
    for row in rows:
        digest.update(
            f"\n{row[0]}|{int(row[1])}|{row[2]:.2f}|{row[3]:.2f}|{row[4]:.2f}|{row[5]:.2f}".encode()
        )
    return digest.hexdigest()[:16]


def _check_table(table: pd.DataFrame, name: str, columns: Sequence[str]) -> None:
    missing = [column for column in columns if column not in table.columns]
    if missing:
        raise EvaluationError(
            f"{name} table lacks columns {missing}; it has {list(table.columns)}. Pass a boxes "
            "table (frame_id, class_id, x1, y1, x2, y2 in pixels)"
        )


def _restrict(table: pd.DataFrame, frame_ids: set[str], name: str) -> pd.DataFrame:
    """Keep the rows on evaluated frames, logging how many were outside."""
    inside = table["frame_id"].isin(frame_ids)
    if not inside.all():
        LOG.warning(
            "%s: %d boxes on frames outside the test set ignored", name, int((~inside).sum())
        )
    return table[inside]


def match_class(
    ground_truth: pd.DataFrame, predictions: pd.DataFrame, class_index: int
) -> ClassDetections:
    """Match one class's detections to its ground truth, frame by frame."""
    truth = ground_truth[ground_truth["class_id"] == class_index]
    preds = predictions[predictions["class_id"] == class_index]
    truth_by_frame = {fid: rows for fid, rows in truth.groupby("frame_id")}
    hits, scores, frame_ids = [], [], []
    for fid, rows in preds.groupby("frame_id"):
        gt_rows = truth_by_frame.get(fid)
        gt_xyxy = gt_rows[["x1", "y1", "x2", "y2"]].to_numpy() if gt_rows is not None else []
        frame_scores = rows["score"].to_numpy(dtype=np.float64)
        hits.append(
            match_detections(gt_xyxy, rows[["x1", "y1", "x2", "y2"]].to_numpy(), frame_scores)
        )
        scores.append(frame_scores)
        frame_ids.append(np.full(len(rows), fid, dtype=object))
    if not hits:
        empty = np.zeros((0, len(IOU_THRESHOLDS)), dtype=bool)
        return ClassDetections(empty, np.zeros(0), np.zeros(0, dtype=object), len(truth))
    return ClassDetections(
        np.concatenate(hits), np.concatenate(scores), np.concatenate(frame_ids), len(truth)
    )


def _class_row(
    det: ClassDetections,
) -> tuple[dict[str, float | int], tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]]:
    """Summarise one class: counts, AP50, AP50-95 and the best-F1 operating point."""
    ap = class_average_precision(det.hits, det.scores, det.n_gt)
    recall = precision = np.zeros(0)
    point = (np.nan,) * 4 if det.n_gt == 0 else (0.0,) * 4
    if det.n_gt > 0 and len(det.scores):
        recall, precision, ordered = precision_recall(det.hits[:, 0], det.scores, det.n_gt)
        point = best_f1(recall, precision, ordered)
    row = {
        "n_gt": det.n_gt,
        "n_pred": len(det.scores),
        "ap50": float(ap[0]),
        "ap50_95": float(np.mean(ap)) if det.n_gt else np.nan,
        "best_f1_threshold": point[0],
        "f1": point[1],
        "precision": point[2],
        "recall": point[3],
    }
    return row, (recall, precision)


def ap_at_thresholds(
    detections: dict[str, ClassDetections],
    class_names: Sequence[str],
    thresholds: Sequence[float] = SCORE_THRESHOLDS,
) -> pd.DataFrame:
    """Return AP50 per class with the detections below each class-score threshold discarded.

    Returns:
        Index ``score_threshold`` (one row per threshold), one column per class; NaN where
        the class has no ground truth.
    """
    rows = {}
    for threshold in thresholds:
        row = {}
        for name in class_names:
            kept = detections[name].above(threshold)
            row[name] = class_average_precision(kept.hits[:, :1], kept.scores, kept.n_gt)[0]
        rows[float(threshold)] = row
    table = pd.DataFrame.from_dict(rows, orient="index", columns=list(class_names))
    table.index.name = "score_threshold"
    return table


def evaluate_detections(
    ground_truth: pd.DataFrame,
    predictions: pd.DataFrame,
    frames: pd.DataFrame,
    class_names: Sequence[str],
    *,
    thresholds: Sequence[float] = SCORE_THRESHOLDS,
) -> Evaluation:
    """Evaluate detections against ground truth on a set of frames.

    Args:
        ground_truth: Boxes table (``frame_id, class_id, x1, y1, x2, y2`` in pixels).
        predictions: The same plus ``score``; predict with a low confidence (e.g. 0.001) so the
            whole precision-recall curve is seen.
        frames: The evaluated frames (``frame_id``); boxes on other frames are ignored, frames
            with no boxes count as background.
        class_names: Taxonomy order; ``class_id`` indexes it.
        thresholds: Class-score thresholds of the AP table.

    Returns:
        The AP table, mAP50, mAP50-95, per-class summary and PR curves.

    Raises:
        EvaluationError: When a table lacks a required column.
    """
    _check_table(ground_truth, "ground_truth", _BOX_COLUMNS)
    _check_table(predictions, "predictions", (*_BOX_COLUMNS, "score"))
    _check_table(frames, "frames", ("frame_id",))
    frame_ids = set(frames["frame_id"])
    truth = _restrict(ground_truth, frame_ids, "ground_truth")
    preds = _restrict(predictions, frame_ids, "predictions")

    names = tuple(class_names)
    detections = {name: match_class(truth, preds, index) for index, name in enumerate(names)}
    rows, curves = {}, {}
    for name, det in detections.items():
        rows[name], curves[name] = _class_row(det)
    per_class = pd.DataFrame.from_dict(rows, orient="index")
    per_class.index.name = "class"

    evaluated = per_class[per_class["n_gt"] > 0]
    map50 = float(evaluated["ap50"].mean()) if len(evaluated) else float("nan")
    map50_95 = float(evaluated["ap50_95"].mean()) if len(evaluated) else float("nan")
    LOG.info(
        "evaluated %d frames, %d classes with ground truth: mAP50 %.3f, mAP50-95 %.3f",
        len(frame_ids),
        len(evaluated),
        map50,
        map50_95,
    )
    return Evaluation(
        ap_table=ap_at_thresholds(detections, names, thresholds),
        map50=map50,
        map50_95=map50_95,
        per_class=per_class,
        pr_curves=curves,
        class_names=names,
        n_frames=len(frame_ids),
        detections=detections,
        test_fingerprint=fingerprint_test_set(truth, frame_ids),
    )
