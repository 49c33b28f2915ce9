"""Box geometry between Label Studio's percent rectangles and our pixel boxes.

Label Studio stores a rectangle as ``x, y, width, height`` in percent of the image the annotator
saw (``original_width`` x ``original_height`` pixels) plus a ``rotation`` in degrees, clockwise,
about the rectangle's anchor corner ``(x, y)``. Our tables hold axis-aligned ``x1, y1, x2, y2``
pixels in the upright frame. The traps handled here: percent is per axis (rotate in pixels, not
percent), width/height can be negative, a rotated rectangle becomes the axis-aligned box around
its corners, and the result is clipped to the image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

# EXIF orientations that swap width and height (the picture is stored turned by 90 degrees).
TRANSPOSING_ORIENTATIONS = frozenset({5, 6, 7, 8})


@dataclass(frozen=True)
class PixelBox:
    """An axis-aligned box in pixels, ``x1 <= x2`` and ``y1 <= y2``."""

    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def area(self) -> float:
        """Area in square pixels (0 for a degenerate box)."""
        return max(0.0, self.x2 - self.x1) * max(0.0, self.y2 - self.y1)


def rectangle_corners_px(
    value: dict[str, float], width: int, height: int
) -> npt.NDArray[np.float64]:
    """Return the four corners, in pixels, of a Label Studio rectangle value.

    Args:
        value: A result's ``value`` with ``x, y, width, height`` (percent) and ``rotation``.
        width: ``original_width`` of the result, in pixels.
        height: ``original_height`` of the result, in pixels.

    Returns:
        A (4, 2) array of ``(x, y)`` corners in pixels (may lie outside the image).
    """
    x0 = float(value["x"]) / 100.0 * width
    y0 = float(value["y"]) / 100.0 * height
    w = float(value["width"]) / 100.0 * width
    h = float(value["height"]) / 100.0 * height
    theta = math.radians(float(value.get("rotation") or 0.0))
    cos, sin = math.cos(theta), math.sin(theta)

    local = np.array([[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]])
    rotated = np.empty_like(local)
    rotated[:, 0] = x0 + local[:, 0] * cos - local[:, 1] * sin
    rotated[:, 1] = y0 + local[:, 0] * sin + local[:, 1] * cos
    return rotated


def rectangle_to_pixels(value: dict[str, float], width: int, height: int) -> PixelBox:
    """Turn a Label Studio rectangle into the axis-aligned pixel box around it, clipped.

    Args:
        value: A result's ``value`` (percent, possibly negative size, possibly rotated).
        width: ``original_width`` of the result.
        height: ``original_height`` of the result.

    Returns:
        The clipped box; its area is 0 when the rectangle lies outside the image.
    """
    corners = rectangle_corners_px(value, width, height)
    x1, y1 = corners.min(axis=0)
    x2, y2 = corners.max(axis=0)
    return PixelBox(
        x1=float(np.clip(x1, 0, width)),
        y1=float(np.clip(y1, 0, height)),
        x2=float(np.clip(x2, 0, width)),
        y2=float(np.clip(y2, 0, height)),
    )


def pixels_to_rectangle(box: PixelBox, width: int, height: int) -> dict[str, float]:
    """Turn a pixel box into a Label Studio rectangle value (percent, rotation 0).

    Args:
        box: The box in pixels of the upright image.
        width: Image width in pixels.
        height: Image height in pixels.

    Returns:
        ``{"x", "y", "width", "height", "rotation"}`` in percent of the image.
    """
    x1, x2 = sorted((box.x1, box.x2))
    y1, y2 = sorted((box.y1, box.y2))
    return {
        "x": x1 / width * 100.0,
        "y": y1 / height * 100.0,
        "width": (x2 - x1) / width * 100.0,
        "height": (y2 - y1) / height * 100.0,
        "rotation": 0.0,
    }


def stored_to_upright(box: PixelBox, stored_wh: tuple[int, int], orientation: int) -> PixelBox:
    """Map a box drawn on the stored pixels of an EXIF-rotated image into the upright image.

    A browser that ignored the EXIF orientation showed the stored (sideways) pixels; the box then
    lives in that space and must be turned with the picture.

    Args:
        box: Box in the stored image's pixels.
        stored_wh: ``(width, height)`` of the stored pixels (before the EXIF turn).
        orientation: EXIF orientation tag, 1..8.

    Returns:
        The same box in the upright image.

    Raises:
        ValueError: When ``orientation`` is not 1..8.
    """
    w, h = stored_wh
    corners = np.array([[box.x1, box.y1], [box.x2, box.y2]], dtype=np.float64)
    xs, ys = corners[:, 0], corners[:, 1]
    mapping = {
        1: (xs, ys),
        2: (w - xs, ys),
        3: (w - xs, h - ys),
        4: (xs, h - ys),
        5: (ys, xs),
        6: (h - ys, xs),
        7: (h - ys, w - xs),
        8: (ys, w - xs),
    }
    if orientation not in mapping:
        raise ValueError(f"EXIF orientation {orientation!r} is not 1..8")
    new_x, new_y = mapping[orientation]
    return PixelBox(float(new_x.min()), float(new_y.min()), float(new_x.max()), float(new_y.max()))


def iou_matrix(
    boxes_a: npt.NDArray[np.float64], boxes_b: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Return the IoU of every box in ``boxes_a`` with every box in ``boxes_b``.

    Args:
        boxes_a: (N, 4) xyxy boxes.
        boxes_b: (M, 4) xyxy boxes.

    Returns:
        (N, M) intersection over union, 0 where a union is empty.
    """
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)
