"""Confusion table of a detector: which class the model gave each annotated object.

Detections at or above the operating threshold are matched to ground truth *regardless of
class* (greedily by score, IoU >= 0.5), so a guardrail detected as a white line shows up as
one (guardrail -> white_line) instead of as a miss plus a false alarm. Unmatched ground
truth lands in the ``missed`` column, unmatched detections in the ``background`` row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from roadmark_pipeline.model.metrics import box_iou

MISSED = "missed"
BACKGROUND = "background"
_XYXY = ["x1", "y1", "x2", "y2"]


def _frame_pairs(
    truth: pd.DataFrame, preds: pd.DataFrame, iou: float
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Match one frame: (true, predicted) class pairs, missed true classes, false-alarm classes."""
    order = np.argsort(-preds["score"].to_numpy(), kind="stable")
    overlaps = box_iou(preds[_XYXY].to_numpy()[order], truth[_XYXY].to_numpy())
    true_classes = truth["class_id"].to_numpy()
    pred_classes = preds["class_id"].to_numpy()[order]
    taken = np.zeros(len(truth), dtype=bool)
    pairs, alarms = [], []
    for row, pred_class in enumerate(pred_classes):
        candidates = np.where(taken, -1.0, overlaps[row]) if len(truth) else np.zeros(0)
        best = int(np.argmax(candidates)) if len(candidates) else -1
        if best >= 0 and candidates[best] >= iou:
            taken[best] = True
            pairs.append((int(true_classes[best]), int(pred_class)))
        else:
            alarms.append(int(pred_class))
    return pairs, [int(c) for c in true_classes[~taken]], alarms


def confusion_table(
    ground_truth: pd.DataFrame,
    predictions: pd.DataFrame,
    frames: pd.DataFrame,
    class_names: Sequence[str],
    *,
    conf: float | Mapping[str, float] = 0.25,
    iou: float = 0.5,
) -> pd.DataFrame:
    """Count annotated objects by true class and predicted class.

    Args:
        ground_truth: Boxes table.
        predictions: Boxes table with ``score``.
        frames: The evaluated frames (``frame_id``).
        class_names: Taxonomy order.
        conf: Operating threshold, one for all or one per class name (e.g. the chosen ones).
        iou: IoU needed for a detection to count as finding an object.

    Returns:
        Rows = true class plus ``background``; columns = predicted class plus ``missed``.
    """
    names = list(class_names)
    thresholds = np.array([conf.get(n, 0.25) if isinstance(conf, Mapping) else conf for n in names])
    kept = predictions[predictions["score"] >= thresholds[predictions["class_id"].to_numpy()]]
    counts = np.zeros((len(names) + 1, len(names) + 1), dtype=np.int64)
    truth_by_frame = dict(tuple(ground_truth.groupby("frame_id")))
    preds_by_frame = dict(tuple(kept.groupby("frame_id")))
    empty_truth = ground_truth.iloc[0:0]
    empty_preds = kept.iloc[0:0]
    for fid in frames["frame_id"]:
        pairs, missed, alarms = _frame_pairs(
            truth_by_frame.get(fid, empty_truth), preds_by_frame.get(fid, empty_preds), iou
        )
        for true_class, pred_class in pairs:
            counts[true_class, pred_class] += 1
        for true_class in missed:
            counts[true_class, -1] += 1
        for pred_class in alarms:
            counts[-1, pred_class] += 1
    table = pd.DataFrame(counts, index=[*names, BACKGROUND], columns=[*names, MISSED])
    table.index.name = "true"
    table.columns.name = "predicted"
    return table


def top_confusions(table: pd.DataFrame, limit: int = 10) -> pd.DataFrame:
    """List the off-diagonal class-to-class confusions, largest first.

    Returns:
        Rows ``true``, ``predicted``, ``count``, ``share_of_true`` (of that class's objects).
    """
    classes = [name for name in table.index if name != BACKGROUND]
    rows = []
    for true_name in classes:
        total = int(table.loc[true_name].sum())
        for pred_name in classes:
            count = int(table.at[true_name, pred_name])
            if true_name != pred_name and count:
                rows.append((true_name, pred_name, count, count / total if total else np.nan))
    result = pd.DataFrame(rows, columns=["true", "predicted", "count", "share_of_true"])
    return result.sort_values("count", ascending=False, ignore_index=True).head(limit)
