"""Label Studio JSON export -> YOLO labels, ``data.yaml`` and an image index.

The label lines themselves (written inside [0, 1], validated, scanned as a trainer pairs them)
come from :mod:`roadmark_pipeline.labeling.yolo_labels`; those callers use are importable here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import pandas as pd
import yaml

from roadmark_pipeline.labeling.config import parse_label_config
from roadmark_pipeline.labeling.convert import ExportTables, parse_export, task_frame_id
from roadmark_pipeline.labeling.yolo_labels import (
    DegenerateBoxError,
    scan_yolo_folder,
    validate_yolo_labels,
    yolo_line,
)
from roadmark_pipeline.lake import staged_dir, write_text_atomic

# Callers import these from here (the label-line names moved to yolo_labels).
__all__ = [
    "DegenerateBoxError",
    "YoloExportSummary",
    "export_to_yolo",
    "image_path",
    "scan_yolo_folder",
    "validate_yolo_labels",
    "yolo_line",
]

LOG = logging.getLogger(__name__)


@dataclass
class YoloExportSummary:
    """What :func:`export_to_yolo` wrote.

    Attributes:
        out_dir: The output folder (``labels/``, ``data.yaml``, ``images.csv``).
        names: Class names in id order (from the labeling config).
        n_images: Label files written (labelled + background).
        n_boxes: Lines written.
        n_background: Empty label files (tasks reviewed and found empty).
        n_unannotated: Tasks left out: no annotation yet.
        n_cancelled: Tasks left out: every annotation skipped/cancelled.
        n_multi_annotation: Tasks with several annotations; the ground-truth one, else the
            latest, was written (use consensus for overlap projects).
        n_degenerate: Boxes dropped because nothing of them lies inside the image.
        label_files: Label file name -> the task's image reference.
    """

    out_dir: Path
    names: list[str]
    n_images: int = 0
    n_boxes: int = 0
    n_background: int = 0
    n_unannotated: int = 0
    n_cancelled: int = 0
    n_multi_annotation: int = 0
    n_degenerate: int = 0
    label_files: dict[str, str] = field(default_factory=dict)


def export_to_yolo(
    export: list[dict[str, Any]], label_config: str, out_dir: Path
) -> YoloExportSummary:
    """Write YOLO labels and ``data.yaml`` from a Label Studio JSON export.

    Class ids follow the labeling config's order (never Label Studio's own YOLO export, which
    renumbers classes alphabetically). Reviewed-empty tasks become empty label files
    (background); unannotated and cancelled tasks are left out. ``labels/`` is rebuilt as a
    whole and swapped in only when complete.

    Args:
        export: The JSON export (list of tasks).
        label_config: The project's labeling config XML.
        out_dir: Output folder; gets ``labels/<image stem>.txt``, ``data.yaml`` and
            ``images.csv`` (label file -> image reference, frame id).

    Returns:
        The :class:`YoloExportSummary`.
    """
    names = parse_label_config(label_config)
    tables = parse_export(export, names)
    out_dir = Path(out_dir)
    summary = YoloExportSummary(out_dir=out_dir, names=names)
    with staged_dir(out_dir / "labels") as stage:
        index_rows = _write_label_files(export, tables, stage, summary)

    write_text_atomic(out_dir / "images.csv", "\n".join(index_rows) + "\n")
    data_yaml = {"path": ".", "train": "images", "val": "images", "nc": len(names), "names": names}
    write_text_atomic(out_dir / "data.yaml", yaml.safe_dump(data_yaml, sort_keys=False))
    LOG.info(
        "YOLO export to %s: %d images (%d background), %d boxes; left out %d unannotated, "
        "%d cancelled; %d multi-annotation tasks",
        out_dir,
        summary.n_images,
        summary.n_background,
        summary.n_boxes,
        summary.n_unannotated,
        summary.n_cancelled,
        summary.n_multi_annotation,
    )
    return summary


def _write_label_files(
    export: list[dict[str, Any]], tables: ExportTables, stage: Path, summary: YoloExportSummary
) -> list[str]:
    """Write one label file per labelled or reviewed-empty task; return the images.csv rows."""
    chosen = _chosen_annotations(export)
    statuses = dict(zip(tables.tasks["task_id"], tables.tasks["status"], strict=True))
    stems = _label_stems(export)

    index_rows = ["label_file,image,frame_id"]
    for task in export:
        task_id = int(task.get("id") or 0)
        status = statuses.get(task_id)
        if status in ("unannotated", "cancelled"):
            summary.n_unannotated += status == "unannotated"
            summary.n_cancelled += status == "cancelled"
            continue
        summary.n_multi_annotation += chosen[task_id][1] > 1
        boxes = tables.boxes[tables.boxes["annotation_id"] == chosen[task_id][0]]
        lines = _yolo_lines(boxes, summary)
        name = f"{stems[task_id]}.txt"
        (stage / name).write_text("".join(line + "\n" for line in lines), "utf-8")
        summary.label_files[name] = str((task.get("data") or {}).get("image", ""))
        summary.n_images += 1
        summary.n_boxes += len(lines)
        summary.n_background += not lines
        frame = task_frame_id(task) or ""
        index_rows.append(f"{name},{_csv_cell(summary.label_files[name])},{frame}")
    return index_rows


def _yolo_lines(boxes: pd.DataFrame, summary: YoloExportSummary) -> list[str]:
    lines = []
    for row in boxes.itertuples(index=False):
        try:
            xyxy = (row.x1, row.y1, row.x2, row.y2)
            lines.append(yolo_line(int(row.class_id), xyxy, int(row.width), int(row.height)))
        except DegenerateBoxError:
            summary.n_degenerate += 1
    return lines


def _chosen_annotations(export: list[dict[str, Any]]) -> dict[int, tuple[int, int]]:
    """Task id -> (annotation id written, number of live annotations)."""
    chosen: dict[int, tuple[int, int]] = {}
    for task in export:
        live = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
        live.sort(key=lambda a: (bool(a.get("ground_truth")), str(a.get("updated_at") or "")))
        chosen[int(task.get("id") or 0)] = (int(live[-1].get("id") or 0) if live else -1, len(live))
    return chosen


def _label_stems(export: list[dict[str, Any]]) -> dict[int, str]:
    """Task id -> label file stem: the image's stem, prefixed by its folder where stems clash."""
    paths = {int(task.get("id") or 0): image_path(task) for task in export}
    counts: dict[str, int] = {}
    for path in paths.values():
        counts[path.stem] = counts.get(path.stem, 0) + 1
    stems = {}
    for task_id, path in paths.items():
        clash = counts[path.stem] > 1
        stems[task_id] = (
            f"{path.parent.name}_{path.stem}" if clash and path.parent.name else path.stem
        )
    if len(set(stems.values())) != len(stems):
        stems = {task_id: f"task{task_id}_{stem}" for task_id, stem in stems.items()}
    return stems


def image_path(task: dict[str, Any]) -> PurePosixPath:
    """The image path of a task: the ``d=`` of a local-files URL, else the URL's path.

    Args:
        task: A task of a Label Studio export.

    Returns:
        The path (``PurePosixPath("task<id>")`` when the task has no image).
    """
    reference = str((task.get("data") or {}).get("image") or "")
    parsed = urlparse(reference)
    local = parse_qs(parsed.query).get("d")
    path = unquote(local[0] if local else parsed.path)
    return PurePosixPath(path) if path else PurePosixPath(f"task{task.get('id')}")


def _csv_cell(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text
