"""YOLO label files: writing lines that never leave [0, 1], validating and scanning folders.

A YOLO line is ``class cx cy w h`` normalised to the image. Naive ``%.6f`` formatting of a box
touching the right or bottom edge gives ``cx + w/2 = 1.0000005``, which strict loaders reject
(the whole image silently disappears from training). Here the edges are rounded inwards to a
micro-unit grid so that the written centre and size reproduce edges inside the image exactly.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import pandas as pd
import yaml
from PIL import Image, UnidentifiedImageError

from roadmark_pipeline.labeling.config import parse_label_config
from roadmark_pipeline.labeling.convert import parse_export, task_frame_id
from roadmark_pipeline.lake import staged_dir, write_text_atomic

LOG = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
# Written lines use 6 decimals: one micro-unit of the image side.
_GRID = 1_000_000
# A value this close to a grid point is that grid point (float noise, not a real offset).
_SNAP = 1e-3
# Validation tolerates edges this far past [0, 1] (rounding of other writers), no more.
EDGE_TOLERANCE = 1e-6


class DegenerateBoxError(ValueError):
    """A box with no area inside the image; it cannot become a YOLO line."""


@dataclass(frozen=True)
class YoloBox:
    """One YOLO label: class id and normalised centre/size."""

    class_id: int
    cx: float
    cy: float
    w: float
    h: float


@dataclass(frozen=True)
class FlaggedLine:
    """A label line the validator did not keep, with its 1-based line number and the reason."""

    line_number: int
    text: str
    reason: str


@dataclass
class YoloValidation:
    """What :func:`validate_yolo_labels` found in one label file."""

    path: Path
    kept: list[YoloBox] = field(default_factory=list)
    flagged: list[FlaggedLine] = field(default_factory=list)

    @property
    def is_background(self) -> bool:
        """True when the file holds no line at all (an image with nothing to detect)."""
        return not self.kept and not self.flagged


@dataclass
class YoloScan:
    """A folder of images and its label files, as a trainer would see it.

    Attributes:
        n_images: Images found.
        labelled: Image stems with at least one kept box.
        background: Image stem -> why it is background (``empty``, ``missing``, ``whitespace``).
        corrupt: Image stem -> why it cannot be used (unreadable image, every line flagged).
        n_instances: Kept boxes over all labelled images.
        flagged: Label stem -> the lines the validator flagged.
        orphan_labels: Label files with no image.
    """

    n_images: int = 0
    labelled: list[str] = field(default_factory=list)
    background: dict[str, str] = field(default_factory=dict)
    corrupt: dict[str, str] = field(default_factory=dict)
    n_instances: int = 0
    flagged: dict[str, list[FlaggedLine]] = field(default_factory=dict)
    orphan_labels: list[str] = field(default_factory=list)


def yolo_line(class_id: int, xyxy: Sequence[float], width: int, height: int) -> str:
    """Format one pixel box as a YOLO line whose box stays inside [0, 1].

    Args:
        class_id: Class id from the labeling config / taxonomy order.
        xyxy: ``(x1, y1, x2, y2)`` in pixels of the upright image (any corner order).
        width: Image width in pixels.
        height: Image height in pixels.

    Returns:
        ``"<class> <cx> <cy> <w> <h>"`` with 6 decimals; ``cx - w/2 >= 0`` and ``cx + w/2 <= 1``
        hold exactly for the written numbers (and the same for y).

    Raises:
        DegenerateBoxError: When the box has no area inside the image.
        ValueError: When the class id is negative or the image size is not positive.
    """
    if class_id < 0 or width <= 0 or height <= 0:
        raise ValueError(f"bad class id {class_id} or image size {width}x{height}")
    x1, x2 = sorted((float(xyxy[0]), float(xyxy[2])))
    y1, y2 = sorted((float(xyxy[1]), float(xyxy[3])))
    cx, w = _axis(x1 / width, x2 / width)
    cy, h = _axis(y1 / height, y2 / height)
    if w <= 0 or h <= 0:
        raise DegenerateBoxError(
            f"box {list(xyxy)} has no area inside the {width}x{height} image; drop it"
        )
    return f"{class_id} {cx / _GRID:.6f} {cy / _GRID:.6f} {w / _GRID:.6f} {h / _GRID:.6f}"


def _axis(low: float, high: float) -> tuple[int, int]:
    """Centre and size of one axis in micro-units, edges clipped and rounded inwards.

    The size is made even so the centre is a whole micro-unit and ``centre +- size/2`` gives back
    edges on the grid, inside [0, 1].
    """
    start = max(0, math.ceil(min(max(low, 0.0), 1.0) * _GRID - _SNAP))
    end = min(_GRID, math.floor(min(max(high, 0.0), 1.0) * _GRID + _SNAP))
    size = end - start
    if size % 2:
        size -= 1
    return start + size // 2, size


def validate_yolo_labels(path: Path, n_classes: int) -> YoloValidation:
    """Read a YOLO label file; keep the good lines and flag the bad ones with a reason.

    A bad line never costs the image its other labels: it is flagged, the rest is kept.

    Args:
        path: The ``.txt`` label file (a missing file reads as empty).
        n_classes: Number of classes; ids must be in ``[0, n_classes)``.

    Returns:
        The kept boxes and the flagged lines.
    """
    result = YoloValidation(path=Path(path))
    text = Path(path).read_text("utf-8", errors="replace") if Path(path).exists() else ""
    seen: set[tuple[str, ...]] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        box, reason = _parse_line(line, n_classes)
        key = tuple(line.split())
        if box is not None and key in seen:
            box, reason = None, "duplicate of an earlier line"
        if box is None:
            result.flagged.append(FlaggedLine(number, line, reason))
            continue
        seen.add(key)
        result.kept.append(box)
    if result.flagged:
        LOG.warning("%s: %d line(s) flagged, %d kept", path, len(result.flagged), len(result.kept))
    return result


def _parse_line(line: str, n_classes: int) -> tuple[YoloBox | None, str]:
    """Parse one non-empty line; return the box or None with the reason."""
    parts = line.split()
    if len(parts) != 5:
        return None, f"{len(parts)} fields, expected 5 (class cx cy w h)"
    try:
        class_id = int(parts[0])
        cx, cy, w, h = (float(part) for part in parts[1:])
    except ValueError:
        return None, "class is not an integer or a coordinate is not a number"
    if not 0 <= class_id < n_classes:
        return None, f"class {class_id} outside [0, {n_classes})"
    values = (cx, cy, w, h)
    if not all(math.isfinite(v) for v in values):
        return None, "non-finite coordinate"
    if w <= 0 or h <= 0:
        return None, f"non-positive size w={w} h={h}"
    low, high = -EDGE_TOLERANCE, 1 + EDGE_TOLERANCE
    edges = (cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2)
    if not all(low <= v <= high for v in (*values, *edges)):
        return None, f"outside [0, 1]: cx={cx} cy={cy} w={w} h={h}"
    return YoloBox(class_id, cx, cy, w, h), ""


def scan_yolo_folder(images_dir: Path, labels_dir: Path, n_classes: int | None = None) -> YoloScan:
    """Scan an images folder and its labels folder the way a trainer pairs them.

    An image with an empty, whitespace-only or missing label file is background (a valid
    negative example), not an error; an image that cannot be decoded is corrupt.

    Args:
        images_dir: Folder of images (by suffix, see ``IMAGE_SUFFIXES``).
        labels_dir: Folder of ``<image stem>.txt`` label files.
        n_classes: Number of classes for validation; when omitted any non-negative id passes.

    Returns:
        The :class:`YoloScan`.
    """
    scan = YoloScan()
    images = sorted(p for p in Path(images_dir).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    scan.n_images = len(images)
    limit = n_classes if n_classes is not None else 1 << 31
    for image in images:
        problem = _image_problem(image)
        if problem:
            scan.corrupt[image.stem] = problem
            continue
        label = Path(labels_dir) / f"{image.stem}.txt"
        if not label.exists():
            scan.background[image.stem] = "missing"
            continue
        validation = validate_yolo_labels(label, limit)
        if validation.flagged:
            scan.flagged[image.stem] = validation.flagged
        if validation.kept:
            scan.labelled.append(image.stem)
            scan.n_instances += len(validation.kept)
        elif validation.flagged:
            # Every line is bad: as background it would teach the model that nothing is there.
            scan.corrupt[image.stem] = "every label line flagged"
        else:
            scan.background[image.stem] = "empty" if label.stat().st_size == 0 else "whitespace"

    stems = {image.stem for image in images}
    scan.orphan_labels = sorted(
        p.name for p in Path(labels_dir).glob("*.txt") if p.stem not in stems
    )
    LOG.info(
        "scan %s: %d images, %d labelled (%d boxes), %d background, %d corrupt",
        images_dir,
        scan.n_images,
        len(scan.labelled),
        scan.n_instances,
        len(scan.background),
        len(scan.corrupt),
    )
    return scan


def _image_problem(path: Path) -> str:
    """Return why an image cannot be used, or "" when it decodes."""
    try:
        with Image.open(path) as image:
            image.load()
    except (UnidentifiedImageError, OSError, ValueError) as error:
        return f"unreadable image ({type(error).__name__})"
    return ""


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
    chosen = _chosen_annotations(export)
    statuses = dict(zip(tables.tasks["task_id"], tables.tasks["status"], strict=True))
    stems = _label_stems(export)

    index_rows = ["label_file,image,frame_id"]
    with staged_dir(out_dir / "labels") as stage:
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
