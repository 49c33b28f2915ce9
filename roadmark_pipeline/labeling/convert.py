"""Label Studio JSON export -> our tables (boxes in upright pixels, task status, annotations).

Every known trap is handled here, once: percent vs pixels (each result's ``original_width`` and
``original_height``), negative width/height, rotated rectangles (the axis-aligned pixel box around
them), EXIF-rotated images (boxes drawn on the sideways pixels are turned upright), class ids
from the labeling config's order (never the export's), boxes past the image edge (clipped),
exact and near-duplicate boxes (dropped, reported), and the task states reviewed-empty,
unannotated and cancelled.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from roadmark_pipeline.ids import frame_id as make_frame_id
from roadmark_pipeline.labeling.config import BORDERLINE_CHOICE, BORDERLINE_NAME
from roadmark_pipeline.labeling.geometry import (
    TRANSPOSING_ORIENTATIONS,
    PixelBox,
    iou_matrix,
    rectangle_to_pixels,
    stored_to_upright,
)

LOG = logging.getLogger(__name__)

BOX_COLUMNS = [
    "task_id",
    "annotation_id",
    "annotator",
    "frame_id",
    "class_id",
    "class_name",
    "x1",
    "y1",
    "x2",
    "y2",
    "width",
    "height",
    "borderline",
    "created_at",
    "lead_time_s",
]
TASK_COLUMNS = ["task_id", "frame_id", "status", "n_annotations"]
ANNOTATION_COLUMNS = [
    "task_id",
    "annotation_id",
    "annotator",
    "frame_id",
    "was_cancelled",
    "n_boxes",
    "created_at",
    "updated_at",
    "lead_time_s",
]
ISSUE_COLUMNS = ["task_id", "annotation_id", "region_id", "kind", "detail"]
TASK_STATUSES = ("labelled", "reviewed_empty", "unannotated", "cancelled")
DEFAULT_DEDUPE_IOU = 0.9
_BOX_TYPES = {"rectanglelabels": "rectanglelabels", "labels": "labels"}


@dataclass
class ExportTables:
    """The tables parsed from one Label Studio export.

    Attributes:
        boxes: One row per kept box (``BOX_COLUMNS``); pixels in the upright image.
        tasks: One row per task: ``task_id, frame_id, status, n_annotations`` where status is
            one of ``labelled, reviewed_empty, unannotated, cancelled``.
        annotations: One row per annotation, empty ones included (throughput counts them).
        issues: What was dropped or corrected, one row per region: duplicates, unknown labels,
            boxes outside the image, EXIF turns, size mismatches.
    """

    boxes: pd.DataFrame
    tasks: pd.DataFrame
    annotations: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=ANNOTATION_COLUMNS)
    )
    issues: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=ISSUE_COLUMNS))


@dataclass
class _Context:
    """What one task's conversion needs to know and where it records its findings."""

    class_names: list[str]
    dedupe_iou: float
    issues: list[dict[str, Any]]
    task_id: int = 0
    frame_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


def parse_export(
    export: list[dict[str, Any]],
    class_names: Sequence[str],
    *,
    dedupe_iou: float = DEFAULT_DEDUPE_IOU,
) -> ExportTables:
    """Parse a Label Studio JSON export into boxes, tasks, annotations and issues tables.

    Args:
        export: The JSON export (a list of tasks), as returned by ``LabelingProject.export()``.
        class_names: Class names in id order, from the labeling config
            (``config.parse_label_config``) — never from the export.
        dedupe_iou: Two boxes of one class in one annotation overlapping at least this much
            are near-duplicates; the later one is dropped.

    Returns:
        The :class:`ExportTables`. ``frame_id`` comes from task ``data["frame_id"]``, else from
        ``meta``/``data`` ``source_sha256`` + ``frame_index`` (``"still"`` reads as 0: a still
        is a one-frame source), else it is None.

    Raises:
        ValueError: When ``export`` is not a list of task dicts.
    """
    if not isinstance(export, list) or any(not isinstance(task, dict) for task in export):
        raise ValueError(
            "export must be a list of task objects (Label Studio JSON export, not JSON-MIN/CSV)"
        )

    context = _Context(class_names=list(class_names), dedupe_iou=dedupe_iou, issues=[])
    boxes: list[dict[str, Any]] = []
    tasks: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for task in export:
        context.task_id = int(task.get("id") or 0)
        context.data = dict(task.get("data") or {})
        context.frame_id = task_frame_id(task)
        task_boxes, task_annotations = _parse_task(task, context)
        boxes += task_boxes
        annotations += task_annotations
        tasks.append(_task_row(context, task_annotations))

    tables = ExportTables(
        boxes=_frame(boxes, BOX_COLUMNS),
        tasks=_frame(tasks, TASK_COLUMNS),
        annotations=_frame(annotations, ANNOTATION_COLUMNS),
        issues=_frame(context.issues, ISSUE_COLUMNS),
    )
    _log_summary(tables)
    return tables


def task_frame_id(task: dict[str, Any]) -> str | None:
    """Return a task's frame id: ``data.frame_id``, else ``source_sha256`` + ``frame_index``.

    Args:
        task: One task of a Label Studio export.

    Returns:
        The frame id, or None when the task carries neither.
    """
    data = task.get("data") or {}
    if data.get("frame_id"):
        return str(data["frame_id"])
    for holder in (task.get("meta") or {}, data):
        index = _frame_index(holder.get("frame_index"))
        if holder.get("source_sha256") and index is not None:
            return make_frame_id(str(holder["source_sha256"]), index)
    return None


def _frame_index(value: Any) -> int | None:
    """A frame index from task metadata; a still image (``"still"``) is frame 0 of its source."""
    if isinstance(value, str) and value.strip().lower() == "still":
        return 0
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def annotator_name(completed_by: Any) -> str:
    """Return the annotator's name as our tables hold it: the e-mail of the LS user.

    Args:
        completed_by: ``completed_by`` of an exported annotation: an expanded user dict, a user
            id, or None.

    Returns:
        The e-mail when known, ``"user-<id>"`` for a bare id, ``"unknown"`` otherwise.
    """
    if isinstance(completed_by, dict):
        return str(completed_by.get("email") or f"user-{completed_by.get('id')}")
    if completed_by is None:
        return "unknown"
    return f"user-{completed_by}"


def _parse_task(
    task: dict[str, Any], context: _Context
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Convert the annotations of one task into box rows and annotation rows."""
    boxes: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for annotation in task.get("annotations") or []:
        cancelled = bool(annotation.get("was_cancelled"))
        rows = [] if cancelled else _annotation_boxes(annotation, context)
        meta = {
            "task_id": context.task_id,
            "annotation_id": int(annotation.get("id") or 0),
            "annotator": annotator_name(annotation.get("completed_by")),
            "frame_id": context.frame_id,
            "created_at": _timestamp(annotation.get("created_at")),
            "lead_time_s": _float_or_nan(annotation.get("lead_time")),
        }
        annotations.append(
            {
                **meta,
                "was_cancelled": cancelled,
                "n_boxes": len(rows),
                "updated_at": _timestamp(annotation.get("updated_at")),
            }
        )
        boxes += [{**meta, **row} for row in rows]
    return boxes, annotations


def _annotation_boxes(annotation: dict[str, Any], context: _Context) -> list[dict[str, Any]]:
    """Box rows of one annotation: converted, borderline attached, duplicates dropped."""
    results = annotation.get("result") or []
    borderline_ids = {
        result.get("id")
        for result in results
        if result.get("type") == "choices"
        and result.get("from_name") == BORDERLINE_NAME
        and BORDERLINE_CHOICE in ((result.get("value") or {}).get("choices") or [])
    }
    annotation_id = int(annotation.get("id") or 0)

    rows: list[dict[str, Any]] = []
    for result in results:
        if result.get("type") not in _BOX_TYPES:
            continue
        row = _result_box(result, annotation_id, context)
        if row is not None:
            row["borderline"] = result.get("id") in borderline_ids
            rows.append(row)
    return _drop_duplicates(rows, annotation_id, context)


def _result_box(
    result: dict[str, Any], annotation_id: int, context: _Context
) -> dict[str, Any] | None:
    """One region -> a box row in upright pixels, or None (recorded as an issue)."""
    value = result.get("value") or {}
    region = result.get("id")

    def note(kind: str, detail: str) -> None:
        context.issues.append(
            {
                "task_id": context.task_id,
                "annotation_id": annotation_id,
                "region_id": region,
                "kind": kind,
                "detail": detail,
            }
        )

    labels = value.get(_BOX_TYPES[result["type"]]) or []
    if not labels or not all(key in value for key in ("x", "y", "width", "height")):
        note("malformed", "region without a label or without x/y/width/height")
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


def _result_size(result: dict[str, Any], context: _Context, note: Any) -> tuple[int, int] | None:
    """The pixel size the percentages refer to: the result's original size, else the task's."""
    width = result.get("original_width") or context.data.get("width")
    height = result.get("original_height") or context.data.get("height")
    if not width or not height:
        note("no_size", "no original_width/original_height in the result nor width/height in data")
        return None
    if not result.get("original_width"):
        note("size_from_task", "original size missing; used the task's width/height")
    return int(width), int(height)


def _upright_box(
    value: dict[str, Any], size: tuple[int, int], context: _Context, note: Any
) -> tuple[PixelBox, tuple[int, int]]:
    """Pixel box in the upright frame, turning EXIF-sideways boxes and rescaling to the frame."""
    box = rectangle_to_pixels(value, *size)
    frame_wh = _frame_size(context.data)
    if frame_wh is None or frame_wh == size:
        return box, size

    orientation = int(context.data.get("exif_orientation") or 1)
    if orientation in TRANSPOSING_ORIENTATIONS and size == (frame_wh[1], frame_wh[0]):
        note(
            "exif_turned", f"box drawn on stored pixels; turned upright (orientation {orientation})"
        )
        return stored_to_upright(box, size, orientation), frame_wh

    note("size_mismatch", f"annotated at {size[0]}x{size[1]}, frame is {frame_wh[0]}x{frame_wh[1]}")
    sx, sy = frame_wh[0] / size[0], frame_wh[1] / size[1]
    return PixelBox(box.x1 * sx, box.y1 * sy, box.x2 * sx, box.y2 * sy), frame_wh


def _frame_size(data: dict[str, Any]) -> tuple[int, int] | None:
    if data.get("width") and data.get("height"):
        return int(data["width"]), int(data["height"])
    return None


def _drop_duplicates(
    rows: list[dict[str, Any]], annotation_id: int, context: _Context
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
                context.issues.append(
                    {
                        "task_id": context.task_id,
                        "annotation_id": annotation_id,
                        "region_id": None,
                        "kind": "duplicate" if exact else "near_duplicate",
                        "detail": f"{row['class_name']} box with IoU {best:.3f} to a kept box",
                    }
                )
                continue
        kept.append(row)
    return kept


def _task_row(context: _Context, annotations: list[dict[str, Any]]) -> dict[str, Any]:
    """Status of a task from its annotations."""
    live = [a for a in annotations if not a["was_cancelled"]]
    if live:
        status = "labelled" if any(a["n_boxes"] > 0 for a in live) else "reviewed_empty"
    else:
        status = "cancelled" if annotations else "unannotated"
    return {
        "task_id": context.task_id,
        "frame_id": context.frame_id,
        "status": status,
        "n_annotations": len(live),
    }


def _frame(rows: Iterable[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=columns)
    for column in ("created_at", "updated_at"):
        if column in frame:
            frame[column] = pd.to_datetime(frame[column], utc=True)
    if "borderline" in frame:
        frame["borderline"] = frame["borderline"].astype(bool)
    return frame


def _timestamp(value: Any) -> pd.Timestamp | None:
    return pd.Timestamp(value) if value else None


def _float_or_nan(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _log_summary(tables: ExportTables) -> None:
    counts = tables.tasks["status"].value_counts().to_dict() if len(tables.tasks) else {}
    LOG.info(
        "export: %d tasks %s, %d annotations, %d boxes kept",
        len(tables.tasks),
        counts,
        len(tables.annotations),
        len(tables.boxes),
    )
    if len(tables.issues):
        LOG.warning(
            "export: %d regions dropped or corrected %s",
            len(tables.issues),
            tables.issues["kind"].value_counts().to_dict(),
        )
    if len(tables.tasks) and tables.tasks["frame_id"].isna().any():
        LOG.warning(
            "export: %d tasks carry no frame id (neither data.frame_id nor source_sha256 + "
            "frame_index)",
            int(tables.tasks["frame_id"].isna().sum()),
        )
