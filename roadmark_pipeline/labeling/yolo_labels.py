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
from pathlib import Path

from roadmark_pipeline.video.still import open_image

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
        with open_image(path) as image:
            image.load()
    except (OSError, SyntaxError, ValueError) as error:  # UnreadableSourceError included
        return f"unreadable image ({type(error).__name__})"
    return ""
