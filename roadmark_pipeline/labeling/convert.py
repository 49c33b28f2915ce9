"""Label Studio JSON export -> our tables (boxes in upright pixels, task status, annotations).

Every known trap is handled once, here and in :mod:`roadmark_pipeline.labeling.regions` (the
regions of one annotation): percent vs pixels (each result's ``original_width`` and
``original_height``), negative width/height, rotated rectangles (the axis-aligned pixel box around
them), EXIF-rotated images (boxes drawn on the sideways pixels are turned upright), class ids
from the labeling config's order (never the export's), boxes past the image edge (clipped),
exact and near-duplicate boxes (dropped, reported), and the task states reviewed-empty,
unannotated and cancelled.

A task with a region that cannot become a box (a malformed result, no size to read percentages
against) or with malformed annotations is ``unconvertible``: its boxes are incomplete, so it is
neither labelled nor background, and nothing downstream trains on it. So is a task whose boxes
all carry labels the config lacks: it was labelled, it is not empty. An export that is not a
list of task objects with whole-number ids is refused (ValueError).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from roadmark_pipeline.ids import frame_id as make_frame_id
from roadmark_pipeline.labeling.regions import (
    UNCONVERTIBLE_KINDS,
    RegionContext,
    annotation_boxes,
    whole_number,
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
TASK_STATUSES = ("labelled", "reviewed_empty", "unannotated", "cancelled", "unconvertible")
DEFAULT_DEDUPE_IOU = 0.9


@dataclass
class ExportTables:
    """The tables parsed from one Label Studio export.

    Attributes:
        boxes: One row per kept box (``BOX_COLUMNS``); pixels in the upright image.
        tasks: One row per task: ``task_id, frame_id, status, n_annotations`` where status is
            one of ``labelled, reviewed_empty, unannotated, cancelled, unconvertible`` (a
            region or annotation could not be converted, or every box has a label the config
            lacks: see ``issues`` for why).
        annotations: One row per annotation, empty ones included (throughput counts them).
        issues: What was dropped or corrected, one row per region: duplicates, unknown labels,
            boxes outside the image, EXIF turns, size mismatches, and (kinds in
            ``UNCONVERTIBLE_KINDS``) what made a task unconvertible.
    """

    boxes: pd.DataFrame
    tasks: pd.DataFrame
    annotations: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=ANNOTATION_COLUMNS)
    )
    issues: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=ISSUE_COLUMNS))


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
        ValueError: When ``export`` is not a list of task dicts, or a task id is not a whole
            number.
    """
    check_export(export)

    context = RegionContext(class_names=list(class_names), dedupe_iou=dedupe_iou, issues=[])
    boxes: list[dict[str, Any]] = []
    tasks: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for task in export:
        context.task_id = task_id(task)
        context.data = task_data(task)
        context.frame_id = task_frame_id(task)
        first_issue = len(context.issues)
        if not isinstance(task.get("data") or {}, dict):
            detail = f'"data" is a {type(task["data"]).__name__}, not an object'
            context.note(0, None, "malformed", detail)
        task_boxes, task_annotations = _parse_task(task, context)
        boxes += task_boxes
        annotations += task_annotations
        found = {issue["kind"] for issue in context.issues[first_issue:]}
        # every box drawn has a label the config lacks: labelled, yet no box to train on
        broken = bool(found & UNCONVERTIBLE_KINDS) or ("unknown_label" in found and not task_boxes)
        tasks.append(_task_row(context, task_annotations, broken))

    tables = ExportTables(
        boxes=_frame(boxes, BOX_COLUMNS),
        tasks=_frame(tasks, TASK_COLUMNS),
        annotations=_frame(annotations, ANNOTATION_COLUMNS),
        issues=_frame(context.issues, ISSUE_COLUMNS),
    )
    _log_summary(tables)
    return tables


def check_export(export: Any) -> None:
    """Refuse what is not a Label Studio JSON export: a list of task objects with whole ids.

    Args:
        export: The parsed JSON.

    Raises:
        ValueError: Naming the first task at fault and the fix.
    """
    if not isinstance(export, list) or any(not isinstance(task, dict) for task in export):
        raise ValueError(
            "export must be a list of task objects (Label Studio JSON export, not JSON-MIN/CSV)"
        )
    for position, task in enumerate(export):
        if whole_number(task.get("id", 0)) is None:
            raise ValueError(
                f"task #{position} has id {task.get('id')!r}, not a whole number; export the "
                "project again as JSON"
            )


def task_id(task: dict[str, Any]) -> int:
    """A task's id (0 when it has none); :func:`check_export` has refused ids that are not."""
    return whole_number(task.get("id")) or 0


def task_data(task: dict[str, Any]) -> dict[str, Any]:
    """A task's ``data`` object (empty when missing or not an object)."""
    data = task.get("data")
    return dict(data) if isinstance(data, dict) else {}


def task_annotations(task: dict[str, Any]) -> list[Any]:
    """A task's ``annotations`` list as exported (empty when missing or not a list)."""
    annotations = task.get("annotations")
    return annotations if isinstance(annotations, list) else []


def task_frame_id(task: dict[str, Any]) -> str | None:
    """Return a task's frame id: ``data.frame_id``, else ``source_sha256`` + ``frame_index``.

    Args:
        task: One task of a Label Studio export.

    Returns:
        The frame id, or None when the task carries neither.
    """
    data = task_data(task)
    if data.get("frame_id"):
        return str(data["frame_id"])
    meta = task.get("meta")
    for holder in (meta if isinstance(meta, dict) else {}, data):
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
    task: dict[str, Any], context: RegionContext
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Convert the annotations of one task into box rows and annotation rows."""
    boxes: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    listed = task.get("annotations")
    if listed is not None and not isinstance(listed, list):
        detail = f'"annotations" is a {type(listed).__name__}, not a list'
        context.note(0, None, "malformed", detail)
    for position, annotation in enumerate(task_annotations(task)):
        if not isinstance(annotation, dict):
            detail = f"annotation #{position} is a {type(annotation).__name__}, not an object"
            context.note(0, None, "malformed", detail)
            continue
        cancelled = bool(annotation.get("was_cancelled"))
        rows = [] if cancelled else annotation_boxes(annotation, context)
        meta = {
            "task_id": context.task_id,
            "annotation_id": whole_number(annotation.get("id")) or 0,
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


def _task_row(
    context: RegionContext, annotations: list[dict[str, Any]], broken: bool
) -> dict[str, Any]:
    """Status of a task from its annotations; ``broken``: something could not be converted."""
    live = [a for a in annotations if not a["was_cancelled"]]
    if broken:
        status = "unconvertible"
    elif live:
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
    if not value or not isinstance(value, str | int | float):
        return None
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return None if pd.isna(stamp) else stamp


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
