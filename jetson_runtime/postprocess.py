"""YOLO post-processing in numpy: decode the raw (1, 4+nc, anchors) output and run NMS.

The transposed export (1, anchors, 4+nc) is recognised and decoded the same way.

The rules follow the reference (ultralytics ``non_max_suppression`` with ``multi_label=False``
and ``torchvision.ops.nms``): each anchor keeps its best class, a candidate must score strictly
above the threshold, at most ``MAX_CANDIDATES`` best candidates enter NMS, a box is suppressed
when its IoU with a kept box is strictly above ``iou``, and the result is sorted by score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

MAX_CANDIDATES = 30000


class DecodeError(ValueError):
    """A raw model output or a threshold that cannot be decoded."""


@dataclass
class Detections:
    """Detections of one frame, sorted by descending score.

    Attributes:
        xyxy: (N, 4) boxes ``x1, y1, x2, y2`` in pixels.
        scores: (N,) confidences in 0..1.
        class_ids: (N,) class ids (positions in the bundle's class names).
    """

    xyxy: npt.NDArray[np.float32]
    scores: npt.NDArray[np.float32]
    class_ids: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def select(self, keep: npt.NDArray[np.bool_]) -> Detections:
        """Return the detections where ``keep`` is True, order kept."""
        return Detections(self.xyxy[keep], self.scores[keep], self.class_ids[keep])

    def with_area(self) -> Detections:
        """Drop boxes of zero area (e.g. boxes wholly in the letterbox padding, once clipped)."""
        sides = self.xyxy[:, 2:4] - self.xyxy[:, 0:2]
        return self.select((sides > 0).all(axis=1))

    @classmethod
    def empty(cls) -> Detections:
        """Return a frame with no detections."""
        return cls(
            np.zeros((0, 4), dtype=np.float32),
            np.zeros((0,), dtype=np.float32),
            np.zeros((0,), dtype=np.int64),
        )


def cxcywh_to_xyxy(boxes: npt.NDArray) -> npt.NDArray:
    """Convert (N, 4) centre/size boxes to corner boxes."""
    half = boxes[:, 2:4] / 2
    return np.concatenate([boxes[:, 0:2] - half, boxes[:, 0:2] + half], axis=1)


def nms(xyxy: npt.NDArray, scores: npt.NDArray, iou: float) -> npt.NDArray[np.int64]:
    """Greedy non-maximum suppression, as ``torchvision.ops.nms`` does it.

    Args:
        xyxy: (N, 4) corner boxes.
        scores: (N,) scores.
        iou: A box is dropped when its IoU with a higher-scored kept box is above this.

    Returns:
        Indices of the kept boxes, by descending score.
    """
    boxes = np.asarray(xyxy, dtype=np.float64)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    keep: list[int] = []

    while order.size:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        inter_w = np.minimum(boxes[best, 2], boxes[rest, 2]) - np.maximum(
            boxes[best, 0], boxes[rest, 0]
        )
        inter_h = np.minimum(boxes[best, 3], boxes[rest, 3]) - np.maximum(
            boxes[best, 1], boxes[rest, 1]
        )
        inter = np.clip(inter_w, 0, None) * np.clip(inter_h, 0, None)
        with np.errstate(divide="ignore", invalid="ignore"):
            overlap = inter / (areas[best] + areas[rest] - inter)
        order = rest[~(overlap > iou)]

    return np.asarray(keep, dtype=np.int64)


def batched_nms(
    xyxy: npt.NDArray, scores: npt.NDArray, class_ids: npt.NDArray, iou: float
) -> npt.NDArray[np.int64]:
    """Per-class NMS: boxes of different classes never suppress each other.

    Args:
        xyxy: (N, 4) corner boxes.
        scores: (N,) scores.
        class_ids: (N,) class ids.
        iou: IoU threshold (see :func:`nms`).

    Returns:
        Indices of the kept boxes over all classes, by descending score.
    """
    kept = [
        np.flatnonzero(class_ids == cls)[nms(xyxy[class_ids == cls], scores[class_ids == cls], iou)]
        for cls in np.unique(class_ids)
    ]
    merged = np.concatenate(kept) if kept else np.zeros((0,), dtype=np.int64)
    return merged[np.argsort(-scores[merged].astype(np.float64), kind="stable")]


def class_thresholds(conf: float | Sequence[float], num_classes: int) -> npt.NDArray[np.float64]:
    """Expand a confidence threshold into one value per class.

    Args:
        conf: One threshold for all classes, or one per class.
        num_classes: Classes in the model output.

    Returns:
        (num_classes,) thresholds.

    Raises:
        DecodeError: When the sequence length differs from ``num_classes`` or a value is not
            in 0..1.
    """
    values = np.atleast_1d(np.asarray(conf, dtype=np.float64))
    if values.size == 1:
        values = np.full(num_classes, float(values[0]))
    if values.size != num_classes:
        raise DecodeError(
            f"{values.size} thresholds for a model with {num_classes} classes; "
            "pass one threshold or exactly one per class"
        )
    if np.any((values < 0) | (values > 1)) or np.any(np.isnan(values)):
        raise DecodeError(f"thresholds {values.tolist()} must lie in 0..1")
    return values


def _channels_first(shape: tuple[int, ...], num_classes: int | None) -> bool:
    """Tell whether an output's last two dimensions are (channels, anchors), not the reverse.

    With a known class count the channel dimension is the one equal to 4 + ``num_classes``;
    without it, the smaller one (a detector has far more anchors than channels), except that a
    dimension of 0 is an empty anchor list. Equal sizes read as the documented channels first.
    """
    rows, cols = shape[-2:]
    if num_classes is not None:
        channels = 4 + num_classes
        if rows != channels and cols != channels:
            raise DecodeError(
                f"model output has shape {shape}; expected one dimension of {channels} "
                f"channels (4 box coordinates + {num_classes} classes): check that the model "
                "matches the class names in runtime.json"
            )
        return rows == channels
    if cols == 0 or rows == 0:
        return cols == 0
    return rows <= cols


def _as_anchor_rows(
    output: npt.NDArray | Sequence[npt.NDArray], num_classes: int | None = None
) -> npt.NDArray[np.float32]:
    """Return the output as (anchors, 4+nc) rows, whichever way round the model wrote it."""
    raw = output[0] if isinstance(output, list | tuple) else output
    raw = np.asarray(raw)
    shape = raw.shape
    if raw.ndim == 3 and shape[0] == 1:
        raw = raw[0]
    if raw.ndim != 2:
        raise DecodeError(
            f"model output has shape {shape}; expected (1, 4+nc, anchors) or "
            "(1, anchors, 4+nc) from a YOLO detection export with batch size 1"
        )
    rows = raw.T if _channels_first(shape, num_classes) else raw
    if rows.shape[1] < 5:
        raise DecodeError(
            f"model output has shape {shape}; expected (1, 4+nc, anchors) with at least "
            "one class (4+nc >= 5) from a YOLO detection export"
        )
    return rows.astype(np.float32, copy=False)


def decode_yolo(
    output: npt.NDArray | Sequence[npt.NDArray],
    conf: float | Sequence[float],
    iou: float = 0.45,
    agnostic: bool = False,
    max_det: int = 300,
    num_classes: int | None = None,
) -> Detections:
    """Decode a YOLO detection output into thresholded, non-overlapping detections.

    Args:
        output: The raw output (1, 4+nc, anchors): centre x, centre y, width, height in input
            pixels, then one sigmoid score per class. The transposed (1, anchors, 4+nc) and the
            2-D (4+nc, anchors) or (anchors, 4+nc) are read the same way. The list
            ``session.run`` returns is accepted.
        conf: Confidence threshold, one for all classes or one per class; a candidate keeps its
            best class and must score strictly above that class's threshold.
        iou: IoU threshold of the NMS.
        agnostic: Suppress across classes instead of within each class.
        max_det: Most detections returned.
        num_classes: Classes the model was trained on, when known: the dimension of
            4 + ``num_classes`` is then the channel one. Without it, the smaller dimension is.

    Returns:
        The detections in model-input pixels (undo the letterbox with
        :func:`jetson_runtime.preprocess.unletterbox_xyxy`).

    Raises:
        DecodeError: When the output shape or the thresholds are unusable, or when
            ``num_classes`` is given and no dimension of the output has 4 + ``num_classes``.
    """
    rows = _as_anchor_rows(output, num_classes)
    thresholds = class_thresholds(conf, rows.shape[1] - 4)
    if rows.shape[0] == 0:
        return Detections.empty()

    class_scores = rows[:, 4:]
    best = class_scores.argmax(axis=1)
    best_score = class_scores[np.arange(rows.shape[0]), best]
    candidates = np.flatnonzero(best_score > thresholds[best])
    if candidates.size > MAX_CANDIDATES:
        top = np.argsort(-best_score[candidates], kind="stable")[:MAX_CANDIDATES]
        candidates = candidates[top]
    if candidates.size == 0:
        return Detections.empty()

    xyxy = cxcywh_to_xyxy(rows[candidates, :4])
    scores = best_score[candidates]
    class_ids = best[candidates].astype(np.int64)
    if agnostic:
        keep = nms(xyxy, scores, iou)
    else:
        keep = batched_nms(xyxy, scores, class_ids, iou)
    keep = keep[:max_det]

    return Detections(
        xyxy[keep].astype(np.float32), scores[keep].astype(np.float32), class_ids[keep]
    )
