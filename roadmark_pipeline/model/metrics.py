"""Detection metric primitives in numpy: IoU, matching, precision-recall and average precision.

Matching follows the COCO rule: detections are taken by decreasing score, and each takes the
unmatched ground-truth box of the same class with the highest IoU at or above the threshold;
a detection that finds none is a false positive. Because higher-scored detections are matched
first, dropping the detections below a score threshold never changes the matches of those
above it, so one matching serves every score threshold.

Average precision integrates the precision envelope over recall at every recall step
("all-point interpolation", as in PASCAL VOC from 2010 on), not at 11 or 101 sampled points.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

IOU_THRESHOLDS: npt.NDArray[np.float64] = np.round(np.linspace(0.5, 0.95, 10), 2)


def box_iou(a_xyxy: npt.NDArray, b_xyxy: npt.NDArray) -> npt.NDArray[np.float64]:
    """Return the IoU of every box in ``a`` with every box in ``b``.

    Args:
        a_xyxy: (N, 4) boxes ``x1, y1, x2, y2``.
        b_xyxy: (M, 4) boxes.

    Returns:
        (N, M) IoU values in [0, 1]; boxes of no area have IoU 0 with everything.
    """
    a = np.asarray(a_xyxy, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b_xyxy, dtype=np.float64).reshape(-1, 4)
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    overlap = np.clip(bottom_right - top_left, 0.0, None).prod(axis=2)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0.0, None).prod(axis=1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0.0, None).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - overlap
    return np.divide(overlap, union, out=np.zeros_like(overlap), where=union > 0)


def match_detections(
    gt_xyxy: npt.NDArray,
    pred_xyxy: npt.NDArray,
    pred_scores: npt.NDArray,
    iou_thresholds: npt.NDArray = IOU_THRESHOLDS,
) -> npt.NDArray[np.bool_]:
    """Mark each detection of one class in one image as true positive per IoU threshold.

    Args:
        gt_xyxy: (G, 4) ground-truth boxes.
        pred_xyxy: (M, 4) detections.
        pred_scores: (M,) detection scores.
        iou_thresholds: (T,) IoU thresholds.

    Returns:
        (M, T) booleans in the order of the inputs: True where the detection matched a
        ground-truth box at that threshold.
    """
    thresholds = np.asarray(iou_thresholds, dtype=np.float64)
    n_pred = len(pred_scores)
    hits = np.zeros((n_pred, len(thresholds)), dtype=bool)
    if n_pred == 0 or len(gt_xyxy) == 0:
        return hits
    iou = box_iou(pred_xyxy, gt_xyxy)
    order = np.argsort(-np.asarray(pred_scores), kind="stable")
    for column, threshold in enumerate(thresholds):
        taken = np.zeros(iou.shape[1], dtype=bool)
        for index in order:
            candidates = np.where(taken, -1.0, iou[index])
            best = int(np.argmax(candidates))
            if candidates[best] >= threshold:
                taken[best] = True
                hits[index, column] = True
    return hits


def precision_recall(
    hits: npt.NDArray[np.bool_], scores: npt.NDArray, n_gt: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Return the precision-recall curve of scored detections.

    Args:
        hits: (M,) true-positive flags.
        scores: (M,) scores.
        n_gt: Number of ground-truth boxes (> 0).

    Returns:
        ``(recall, precision, scores)``, each (M,), ordered by decreasing score.
    """
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    true_pos = np.cumsum(hits[order])
    false_pos = np.cumsum(~hits[order])
    recall = true_pos / float(n_gt)
    precision = true_pos / np.maximum(true_pos + false_pos, 1)
    return recall, precision, np.asarray(scores, dtype=np.float64)[order]


def average_precision(recall: npt.NDArray, precision: npt.NDArray) -> float:
    """Integrate the precision envelope over recall at every recall step (all-point AP).

    Args:
        recall: Non-decreasing recall values of the ranked detections.
        precision: Matching precision values.

    Returns:
        AP in [0, 1]; 0 when there are no detections.
    """
    if len(recall) == 0:
        return 0.0
    steps = np.concatenate(([0.0], recall, [1.0]))
    envelope = np.concatenate(([0.0], precision, [0.0]))
    envelope = np.maximum.accumulate(envelope[::-1])[::-1]
    changed = np.flatnonzero(steps[1:] != steps[:-1])
    return float(np.sum((steps[changed + 1] - steps[changed]) * envelope[changed + 1]))


def class_average_precision(
    hits: npt.NDArray[np.bool_], scores: npt.NDArray, n_gt: int
) -> npt.NDArray[np.float64]:
    """Return AP per IoU threshold for one class; NaN when the class has no ground truth.

    Args:
        hits: (M, T) true-positive flags per IoU threshold.
        scores: (M,) scores.
        n_gt: Ground-truth boxes of the class.

    Returns:
        (T,) AP values.
    """
    n_thresholds = hits.shape[1]
    if n_gt == 0:
        return np.full(n_thresholds, np.nan)
    values = []
    for column in range(n_thresholds):
        recall, precision, _ = precision_recall(hits[:, column], scores, n_gt)
        values.append(average_precision(recall, precision))
    return np.asarray(values)


def best_f1(
    recall: npt.NDArray, precision: npt.NDArray, scores: npt.NDArray
) -> tuple[float, float, float, float]:
    """Return ``(threshold, f1, precision, recall)`` at the score that maximises F1.

    The threshold is the score of the last detection kept; all zeros with no detections.
    """
    if len(scores) == 0:
        return 0.0, 0.0, 0.0, 0.0
    f1 = np.divide(
        2 * precision * recall,
        precision + recall,
        out=np.zeros_like(precision),
        where=(precision + recall) > 0,
    )
    # Only the last detection of a run of equal scores is a threshold one can set.
    ends = np.append(scores[1:] != scores[:-1], True)
    f1 = np.where(ends, f1, -1.0)
    best = int(np.argmax(f1))
    return float(scores[best]), float(f1[best]), float(precision[best]), float(recall[best])
