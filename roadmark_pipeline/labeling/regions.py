"""Label Studio regions of one annotation -> box rows in pixels of the upright frame.

Percent vs pixels (each result's ``original_width`` and ``original_height``), negative
width/height, rotated rectangles (the axis-aligned pixel box around them), EXIF-rotated images
(boxes drawn on the sideways pixels are turned upright), class ids from the labeling config's
order, boxes past the image edge (clipped) and exact or near-duplicate boxes (dropped): each
region dropped or corrected is noted as an issue row. A region that was drawn but cannot become
a box (malformed, or no size to read its percentages against) is noted with a kind in
:data:`UNCONVERTIBLE_KINDS`: its annotation is incomplete, and its task must not be trained on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from roadmark_pipeline.labeling.config import BORDERLINE_CHOICE, BORDERLINE_NAME
from roadmark_pipeline.labeling.geometry import (
    TRANSPOSING_ORIENTATIONS,
    PixelBox,
    iou_matrix,
    rectangle_to_pixels,
    stored_to_upright,
)

_BOX_TYPES = {"rectanglelabels": "rectanglelabels", "labels": "labels"}
_GEOMETRY_KEYS = ("x", "y", "width", "height")
# Notes meaning a drawn region could not become a box: writing the rest of the annotation
# would teach the model that nothing is there.
UNCONVERTIBLE_KINDS = frozenset({"malformed", "no_size"})


@dataclass
class RegionContext:
    """What one task's conversion needs to know and where it records its findings."""

    class_names: list[str]
    dedupe_iou: float
    issues: list[dict[str, Any]]
    task_id: int = 0
    frame_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def note(self, annotation_id: int, region_id: Any, kind: str, detail: str) -> None:
        """Record a region of this task that was dropped or corrected, and why."""
        self.issues.append(
            {
                "task_id": self.task_id,
                "annotation_id": annotation_id,
                "region_id": region_id,
                "kind": kind,
                "detail": detail,
            }
        )


def annotation_boxes(annotation: dict[str, Any], context: RegionContext) -> list[dict[str, Any]]:
    """Box rows of one annotation: converted, borderline attached, duplicates dropped.

    Args:
        annotation: One annotation of an exported task (not cancelled).
        context: The task being converted; dropped and corrected regions are noted in it.

    Returns:
        One dict per kept box: ``class_id, class_name, x1, y1, x2, y2, width, height,
        borderline`` in pixels of the upright frame.
    """
    annotation_id = whole_number(annotation.get("id")) or 0
    results = annotation.get("result")
    if results is None:
        results = []
    if not isinstance(results, list):
        context.note(annotation_id, None, "malformed", f'"result" is {_kind(results)}, not a list')
        return []
    for index, result in enumerate(results):
        if not isinstance(result, dict):
            detail = f"result #{index} is {_kind(result)}, not an object"
            context.note(annotation_id, None, "malformed", detail)
    results = [result for result in results if isinstance(result, dict)]
    borderline_ids = {
        result.get("id")
        for result in results
        if result.get("type") == "choices"
        and result.get("from_name") == BORDERLINE_NAME
        and BORDERLINE_CHOICE in _choices(result.get("value"))
    }

    rows: list[dict[str, Any]] = []
    for result in results:
        if result.get("type") not in _BOX_TYPES:
            continue
        row = _result_box(result, annotation_id, context)
        if row is not None:
            row["borderline"] = result.get("id") in borderline_ids
            rows.append(row)
    return _drop_duplicates(rows, annotation_id, context)


def whole_number(value: Any) -> int | None:
    """An id or a count from an export: an int (or a string of one), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _result_box(
    result: dict[str, Any], annotation_id: int, context: RegionContext
) -> dict[str, Any] | None:
    """One region -> a box row in upright pixels, or None (recorded as an issue)."""
    value = result.get("value")
    note = partial(context.note, annotation_id, result.get("id"))
    if not isinstance(value, dict):
        note("malformed", f'"value" is {_kind(value)}, not an object')
        return None

    labels = value.get(_BOX_TYPES[result["type"]])
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        note("malformed", f"{_BOX_TYPES[result['type']]} is {labels!r}, not a list of labels")
        return None
    geometry = {key: value.get(key) for key in (*_GEOMETRY_KEYS, "rotation")}
    bad = [k for k, v in geometry.items() if not _finite(v) and (k != "rotation" or v is not None)]
    if bad:
        note("malformed", f"{', '.join(bad)} not finite numbers ({geometry})")
        return None
    if len(labels) > 1:
        note("multi_label", f"{labels}: kept the first")
    if labels[0] not in context.class_names:
        note("unknown_label", f"{labels[0]!r} is not in the labeling config")
        return None

    size = _result_size(result, context, note)
    if size is None:
        return None
    if result.get("image_rotation") not in (None, 0, 0.0):
        # TODO(check the coordinate frame of boxes drawn on an image turned with the editor's
        # rotate control, when a real export with image_rotation != 0 is at hand)
        note("editor_rotation", f"image_rotation={result['image_rotation']}: box kept as stored")
    box, upright_wh = _upright_box(value, size, context, note)
    if box.area <= 0:
        note("outside_image", "the box has no area inside the image")
        return None
    return {
        "class_id": context.class_names.index(labels[0]),
        "class_name": labels[0],
        "x1": box.x1,
        "y1": box.y1,
        "x2": box.x2,
        "y2": box.y2,
        "width": upright_wh[0],
        "height": upright_wh[1],
    }


def _result_size(
    result: dict[str, Any], context: RegionContext, note: Any
) -> tuple[int, int] | None:
    """The pixel size the percentages refer to: the result's original size, else the task's."""
    own = _pixels(result.get("original_width")), _pixels(result.get("original_height"))
    if own[0] and own[1]:
        return own[0], own[1]
    task = _frame_size(context.data)
    if task is None:
        note(
            "no_size",
            f"original_width/original_height are {result.get('original_width')!r}/"
            f"{result.get('original_height')!r} and the task has no width/height",
        )
        return None
    note("size_from_task", "original size missing or not positive; used the task's width/height")
    return task


def _pixels(value: Any) -> int | None:
    """A positive pixel count, or None (missing, 0, negative, not a number)."""
    if not _finite(value) or value <= 0:
        return None
    return int(round(value))


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _choices(value: Any) -> list[Any]:
    choices = value.get("choices") if isinstance(value, dict) else None
    return choices if isinstance(choices, list) else []


def _kind(value: Any) -> str:
    return "missing" if value is None else f"a {type(value).__name__} ({str(value)[:40]!r})"


def _upright_box(
    value: dict[str, Any], size: tuple[int, int], context: RegionContext, note: Any
) -> tuple[PixelBox, tuple[int, int]]:
    """Pixel box in the upright frame, turning EXIF-sideways boxes and rescaling to the frame."""
    box = rectangle_to_pixels(value, *size)
    frame_wh = _frame_size(context.data)
    if frame_wh is None or frame_wh == size:
        return box, size

    orientation = whole_number(context.data.get("exif_orientation")) or 1
    if orientation in TRANSPOSING_ORIENTATIONS and size == (frame_wh[1], frame_wh[0]):
        note(
            "exif_turned", f"box drawn on stored pixels; turned upright (orientation {orientation})"
        )
        return stored_to_upright(box, size, orientation), frame_wh

    note("size_mismatch", f"annotated at {size[0]}x{size[1]}, frame is {frame_wh[0]}x{frame_wh[1]}")
    sx, sy = frame_wh[0] / size[0], frame_wh[1] / size[1]
    return PixelBox(box.x1 * sx, box.y1 * sy, box.x2 * sx, box.y2 * sy), frame_wh


def _frame_size(data: dict[str, Any]) -> tuple[int, int] | None:
    width, height = _pixels(data.get("width")), _pixels(data.get("height"))
    return (width, height) if width and height else None


def _drop_duplicates(
    rows: list[dict[str, Any]], annotation_id: int, context: RegionContext
) -> list[dict[str, Any]]:
    """Drop exact and near-duplicate boxes of one class within one annotation; keep the first."""
    kept: list[dict[str, Any]] = []
    for row in rows:
        same_class = [other for other in kept if other["class_id"] == row["class_id"]]
        if same_class:
            xyxy = np.array([[r["x1"], r["y1"], r["x2"], r["y2"]] for r in same_class])
            mine = np.array([[row["x1"], row["y1"], row["x2"], row["y2"]]])
            exact = bool(np.any(np.all(np.abs(xyxy - mine) < 1e-6, axis=1)))
            best = float(iou_matrix(mine, xyxy).max())
            if exact or best >= context.dedupe_iou:
                kind = "duplicate" if exact else "near_duplicate"
                detail = f"{row['class_name']} box with IoU {best:.3f} to a kept box"
                context.note(annotation_id, None, kind, detail)
                continue
        kept.append(row)
    return kept
