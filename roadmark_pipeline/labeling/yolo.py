"""Label Studio JSON export -> YOLO labels, ``data.yaml``, an image index and (optionally) images.

The label lines themselves (written inside [0, 1], validated, scanned as a trainer pairs them)
come from :mod:`roadmark_pipeline.labeling.yolo_labels`, finding and linking the images from
:mod:`roadmark_pipeline.labeling.yolo_images`; the names callers use are importable here.

Only tasks whose boxes are all known become label files: a task with a region that cannot be
converted is left out and reported, never written as background (an empty label file teaches
the model that nothing is there).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from roadmark_pipeline.labeling.config import class_names_from_text
from roadmark_pipeline.labeling.convert import (
    UNCONVERTIBLE_KINDS,
    ExportTables,
    check_export,
    parse_export,
    task_annotations,
    task_data,
    task_frame_id,
    task_id,
)
from roadmark_pipeline.labeling.regions import whole_number
from roadmark_pipeline.labeling.yolo_checks import (
    IMAGES_DIR,
    LABELS_DIR,
    LabelMismatchError,
    check_has_tasks,
    check_labels_match,
)
from roadmark_pipeline.labeling.yolo_images import (
    find_image,
    image_path,
    place_image,
    with_image_sizes,
)
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
    "LabelMismatchError",
    "YoloExportSummary",
    "export_to_yolo",
    "image_path",
    "scan_yolo_folder",
    "validate_yolo_labels",
    "yolo_line",
]

LOG = logging.getLogger(__name__)
# A region kind that leaves its task out when the task has no box left: every box it drew has
# a label the config lacks, so writing it would make a labelled image background.
UNKNOWN_LABEL = "unknown_label"


@dataclass
class YoloExportSummary:
    """What :func:`export_to_yolo` wrote.

    Attributes:
        out_dir: The output folder (``labels/``, ``data.yaml``, ``images.csv``, ``images/``).
        names: Class names in id order (from the labeling config or class list).
        n_images: Label files written (labelled + background).
        n_boxes: Lines written.
        n_background: Empty label files (tasks reviewed and found empty).
        n_unannotated: Tasks left out: no annotation yet.
        n_cancelled: Tasks left out: every annotation skipped/cancelled.
        n_multi_annotation: Tasks with several annotations; the ground-truth one, else the
            latest, was written (use consensus for overlap projects).
        n_degenerate: Boxes dropped because nothing of them lies inside the image.
        label_files: Label file name -> the task's image reference.
        unconvertible: Task id -> why it was left out: a region or annotation that cannot be
            converted (malformed, no image size), or boxes whose labels are all missing from
            the config (unknown_label). Not written as background.
        unconvertible_kinds: Task id -> the kind of that reason (``malformed``, ``no_size``,
            ``unknown_label``).
        missing_images: Task id -> image reference not found under ``image_root``; left out.
        images_written: Images linked (or copied) into ``images/``; 0 without ``image_root``.
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
    unconvertible: dict[int, str] = field(default_factory=dict)
    unconvertible_kinds: dict[int, str] = field(default_factory=dict)
    missing_images: dict[int, str] = field(default_factory=dict)
    images_written: int = 0

    @property
    def n_unconvertible(self) -> int:
        """Tasks left out because their boxes cannot be converted."""
        return len(self.unconvertible)

    @property
    def unconvertible_by_reason(self) -> dict[str, int]:
        """Tasks left out as unconvertible, counted by the kind of reason."""
        return dict(sorted(Counter(self.unconvertible_kinds.values()).items()))


def export_to_yolo(
    export: list[dict[str, Any]],
    label_config: str,
    out_dir: Path,
    *,
    image_root: Path | None = None,
) -> YoloExportSummary:
    """Write YOLO labels and ``data.yaml`` from a Label Studio JSON export.

    Class ids follow the labeling config's order (never Label Studio's own YOLO export, which
    renumbers classes alphabetically). Reviewed-empty tasks become empty label files
    (background); unannotated and cancelled tasks are left out, and so are unconvertible
    tasks (reported in ``unconvertible``). ``labels/`` (and ``images/``) are rebuilt as a whole
    and swapped in only when complete.

    Args:
        export: The JSON export (list of tasks).
        label_config: The project's labeling config XML, or a class list (one name per line).
        out_dir: Output folder; gets ``labels/<stem>.txt``, ``data.yaml`` (``path`` = this
            folder, absolute; train/val = ``images``) and ``images.csv`` (label file, image
            reference, frame id, the file name the image must have in ``images/``).
        image_root: Folder holding the images (Label Studio's document root, or a flat folder
            of the files). When given, each image is hard-linked (else copied) into
            ``images/``, image sizes missing from the export are read from the files, and a
            task whose image is not found is left out (``missing_images``). When None,
            ``images/`` is not touched: put the images there as ``images.csv`` names them.

    Returns:
        The :class:`YoloExportSummary`.

    Raises:
        LabelConfigError: When the config or class list cannot be read.
        LabelMismatchError: When boxes are drawn and none of their labels is in the config.
        ValueError: When the export is not a list of task objects with whole-number ids, or
            holds no task.
    """
    names = class_names_from_text(label_config)
    check_export(export)
    check_has_tasks(export)
    check_labels_match(export, names)
    images = {task_id(task): _image_file(task, image_root) for task in export}
    export = [with_image_sizes(task, images[task_id(task)]) for task in export]
    tables = parse_export(export, names)
    out_dir = Path(out_dir)
    summary = YoloExportSummary(out_dir=out_dir, names=names)
    with staged_dir(out_dir / LABELS_DIR) as labels:
        if image_root is None:
            index_rows = _write_label_files(export, tables, labels, None, summary)
        else:
            with staged_dir(out_dir / IMAGES_DIR) as image_stage:
                placed = {tid: path for tid, path in images.items() if path is not None}
                index_rows = _write_label_files(
                    export, tables, labels, (image_stage, placed), summary
                )

    write_text_atomic(out_dir / "images.csv", "\n".join(index_rows) + "\n")
    data_yaml = {
        "path": str(out_dir.absolute()),
        "train": IMAGES_DIR,
        "val": IMAGES_DIR,
        "nc": len(names),
        "names": names,
    }
    write_text_atomic(out_dir / "data.yaml", yaml.safe_dump(data_yaml, sort_keys=False))
    _log_summary(summary, image_root)
    return summary


def _image_file(task: dict[str, Any], image_root: Path | None) -> Path | None:
    return None if image_root is None else find_image(task, Path(image_root))


def _write_label_files(
    export: list[dict[str, Any]],
    tables: ExportTables,
    stage: Path,
    images: tuple[Path, dict[int, Path]] | None,
    summary: YoloExportSummary,
) -> list[str]:
    """Write one label file per labelled or reviewed-empty task; return the images.csv rows."""
    chosen = _chosen_annotations(export)
    statuses = dict(zip(tables.tasks["task_id"], tables.tasks["status"], strict=True))
    stems = _label_stems(export)
    reasons = _left_out_reasons(tables, {tid: aid for tid, (aid, _) in chosen.items()})

    index_rows = ["label_file,image,frame_id,image_file"]
    for task in export:
        tid = task_id(task)
        reference = str(task_data(task).get("image", ""))
        if not _is_written(tid, statuses.get(tid), reasons, reference, images, summary):
            continue
        summary.n_multi_annotation += chosen[tid][1] > 1
        boxes = tables.boxes[tables.boxes["annotation_id"] == chosen[tid][0]]
        lines = _yolo_lines(boxes, summary)
        name = f"{stems[tid]}.txt"
        (stage / name).write_text("".join(line + "\n" for line in lines), "utf-8")
        image_file = f"{stems[tid]}{image_path(task).suffix or '.jpg'}"
        if images is not None:
            place_image(images[1][tid], images[0] / image_file)
            summary.images_written += 1
        summary.label_files[name] = reference
        summary.n_images += 1
        summary.n_boxes += len(lines)
        summary.n_background += not lines
        frame = task_frame_id(task) or ""
        index_rows.append(f"{name},{_csv_cell(reference)},{frame},{_csv_cell(image_file)}")
    return index_rows


def _is_written(
    tid: int,
    status: str | None,
    reasons: dict[int, tuple[str, str]],
    reference: str,
    images: tuple[Path, dict[int, Path]] | None,
    summary: YoloExportSummary,
) -> bool:
    """Whether a task becomes a label file; counts the reason when it does not."""
    if status in ("unannotated", "cancelled"):
        summary.n_unannotated += status == "unannotated"
        summary.n_cancelled += status == "cancelled"
        return False
    if status == "unconvertible" or tid in reasons:
        kind, why = reasons.get(tid, ("malformed", "a region could not be converted"))
        summary.unconvertible[tid], summary.unconvertible_kinds[tid] = why, kind
        return False
    if images is not None and tid not in images[1]:
        summary.missing_images[tid] = reference
        return False
    return True


def _left_out_reasons(tables: ExportTables, chosen: dict[int, int]) -> dict[int, tuple[str, str]]:
    """Task id -> (kind, why) for tasks that must not be written, naming annotation and result.

    A task is left out for its first region that cannot be converted, or when the annotation
    to be written kept no box and dropped one for a label the config lacks.
    """
    reasons: dict[int, tuple[str, str]] = {}
    issues = tables.issues
    for row in issues[issues["kind"].isin(UNCONVERTIBLE_KINDS)].itertuples(index=False):
        reasons.setdefault(int(row.task_id), (row.kind, _reason(row)))
    kept = set(tables.boxes["annotation_id"])
    for row in issues[issues["kind"] == UNKNOWN_LABEL].itertuples(index=False):
        tid, aid = int(row.task_id), int(row.annotation_id)
        if chosen.get(tid) == aid and aid not in kept:
            reasons.setdefault(
                tid,
                (
                    row.kind,
                    f"{_reason(row)}, and no box of it has a label "
                    "of the config: not written as background",
                ),
            )
    return reasons


def _reason(row: Any) -> str:
    """``annotation A, result 'R': kind: detail`` for one row of the issues table."""
    where = [f"annotation {row.annotation_id}"] if row.annotation_id else []
    where += [f"result {row.region_id!r}"] if pd.notna(row.region_id) else []
    place = [", ".join(where)] if where else []
    return ": ".join([*place, row.kind, row.detail])


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
        live = [
            a for a in task_annotations(task) if isinstance(a, dict) and not a.get("was_cancelled")
        ]
        live.sort(key=lambda a: (bool(a.get("ground_truth")), str(a.get("updated_at") or "")))
        written = (whole_number(live[-1].get("id")) or 0) if live else -1
        chosen[task_id(task)] = (written, len(live))
    return chosen


def _label_stems(export: list[dict[str, Any]]) -> dict[int, str]:
    """Task id -> label file stem: the image's stem, prefixed by its folder where stems clash."""
    paths = {task_id(task): image_path(task) for task in export}
    counts: dict[str, int] = {}
    for path in paths.values():
        counts[path.stem] = counts.get(path.stem, 0) + 1
    stems = {}
    for tid, path in paths.items():
        clash = counts[path.stem] > 1
        stems[tid] = f"{path.parent.name}_{path.stem}" if clash and path.parent.name else path.stem
    if len(set(stems.values())) != len(stems):
        stems = {tid: f"task{tid}_{stem}" for tid, stem in stems.items()}
    return stems


def _log_summary(summary: YoloExportSummary, image_root: Path | None) -> None:
    LOG.info(
        "YOLO export to %s: %d images (%d background), %d boxes; left out %d unannotated, "
        "%d cancelled, %d unconvertible, %d without image; %d multi-annotation tasks",
        summary.out_dir,
        summary.n_images,
        summary.n_background,
        summary.n_boxes,
        summary.n_unannotated,
        summary.n_cancelled,
        summary.n_unconvertible,
        len(summary.missing_images),
        summary.n_multi_annotation,
    )
    if summary.unconvertible:
        first = next(iter(summary.unconvertible.items()))
        LOG.warning(
            "%d tasks left out, not written as background: their boxes cannot be converted "
            "(first: task %d, %s)",
            summary.n_unconvertible,
            *first,
        )
    if summary.missing_images:
        LOG.warning(
            "%d tasks left out: image not found under %s (first: %s)",
            len(summary.missing_images),
            image_root,
            next(iter(summary.missing_images.values())),
        )
    if image_root is None:
        LOG.info(
            "labels only: put each image into %s under the name images.csv gives it, or pass "
            "the image folder to write them",
            summary.out_dir / IMAGES_DIR,
        )


def _csv_cell(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text
