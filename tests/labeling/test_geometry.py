"""Percent rectangles (negative, rotated, past the edge) to pixel boxes, and EXIF turns."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageOps

from roadmark_pipeline.labeling.geometry import (
    PixelBox,
    iou_matrix,
    pixels_to_rectangle,
    rectangle_to_pixels,
    stored_to_upright,
)


def _value(x: float, y: float, w: float, h: float, rotation: float = 0.0) -> dict[str, float]:
    return {"x": x, "y": y, "width": w, "height": h, "rotation": rotation}


@pytest.mark.parametrize(
    ("value", "size", "expected"),
    [
        # plain: percent of each axis
        (_value(10, 20, 30, 40), (1000, 500), (100, 100, 400, 300)),
        # negative width and height: the anchor is the far corner
        (_value(40, 60, -30, -40), (1000, 500), (100, 100, 400, 300)),
        # rotated 90 degrees clockwise about (x, y): the box swings down-left of the anchor
        (_value(50, 20, 10, 4, 90), (1000, 500), (480, 100, 500, 200)),
        # rotated 180: the box lies up-left of the anchor
        (_value(50, 50, 10, 10, 180), (1000, 500), (400, 200, 500, 250)),
        # past the right/bottom edge: clipped
        (_value(90, 90, 20, 20), (1000, 500), (900, 450, 1000, 500)),
        # entirely left of the image: nothing left
        (_value(-30, 10, 20, 10), (1000, 500), (0, 50, 0, 100)),
    ],
)
def test_rectangle_to_pixels(value, size, expected) -> None:
    box = rectangle_to_pixels(value, *size)
    assert (box.x1, box.y1, box.x2, box.y2) == pytest.approx(expected, abs=1e-6)


def test_rotation_45_gives_the_box_around_the_corners() -> None:
    # a 100x100 px square rotated 45 degrees about its top-left corner (200, 100)
    box = rectangle_to_pixels(_value(20, 20, 10, 20, 45), 1000, 500)
    half_diagonal = 100 * np.sqrt(2) / 2
    assert box.x1 == pytest.approx(200 - half_diagonal)
    assert box.x2 == pytest.approx(200 + half_diagonal)
    assert box.y1 == pytest.approx(100)
    assert box.y2 == pytest.approx(100 + 2 * half_diagonal)


def test_rotation_is_done_in_pixels_not_percent() -> None:
    # 90 degrees on a 2:1 image: a 10%x10% box is 100x50 px; turned it is 50 wide, 100 tall
    box = rectangle_to_pixels(_value(50, 50, 10, 10, 90), 1000, 500)
    assert (box.x2 - box.x1, box.y2 - box.y1) == pytest.approx((50, 100))


@pytest.mark.parametrize("size", [(1280, 720), (960, 540), (37, 1001)])
def test_pixels_to_rectangle_round_trip(size) -> None:
    box = PixelBox(3.25, 7.5, 30.75, 20.125)
    back = rectangle_to_pixels(pixels_to_rectangle(box, *size), *size)
    assert (back.x1, back.y1, back.x2, back.y2) == pytest.approx((3.25, 7.5, 30.75, 20.125))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_stored_to_upright_matches_pillow_exif_transpose(tmp_path, orientation) -> None:
    # a stored 60x40 image with a white 10x6 patch; Pillow turns it upright by the EXIF tag
    stored = np.zeros((40, 60, 3), np.uint8)
    stored[5:11, 20:30] = 255
    path = tmp_path / "img.jpg"
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(stored).save(path, exif=exif, quality=100)

    upright = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("L")) > 128
    ys, xs = np.nonzero(upright)
    expected = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)

    box = stored_to_upright(PixelBox(20, 5, 30, 11), (60, 40), orientation)
    assert (box.x1, box.y1, box.x2, box.y2) == pytest.approx(expected, abs=1)


def test_stored_to_upright_refuses_unknown_orientation() -> None:
    with pytest.raises(ValueError, match="1..8"):
        stored_to_upright(PixelBox(0, 0, 1, 1), (10, 10), 9)


def test_iou_matrix() -> None:
    a = np.array([[0, 0, 10, 10], [0, 0, 0, 0]], float)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], float)
    got = iou_matrix(a, b)
    assert got.shape == (2, 3)
    assert got[0] == pytest.approx([1.0, 50 / 150, 0.0])
    assert got[1] == pytest.approx([0.0, 0.0, 0.0])
