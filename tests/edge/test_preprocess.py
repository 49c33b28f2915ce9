"""Letterbox pre-processing: the padding applied is the padding undone (case R14 and its kind)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from jetson_runtime.preprocess import (
    PAD_VALUE,
    Letterbox,
    PreprocessError,
    letterbox,
    unletterbox_xyxy,
)


def _frame(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def _to_input_space(xyxy: np.ndarray, lb: Letterbox) -> np.ndarray:
    out = np.asarray(xyxy, dtype=np.float64) * lb.gain
    out[:, [0, 2]] += lb.pad_left
    out[:, [1, 3]] += lb.pad_top
    return out


def test_r14_recorded_padding_maps_box_back(cases_dir: Path) -> None:
    case = json.loads((cases_dir / "R14" / "case.json").read_text())
    height, width = case["original_hw"]
    tensor, lb = letterbox(np.zeros((height, width, 3), np.uint8), case["input_size"])

    assert tensor.shape == (1, 3, 640, 640)
    assert lb.gain == pytest.approx(1 / 3)
    assert (lb.pad_top, lb.pad_left) == (138, 0)
    # 363 rows of image, 138 grey rows above and 139 below.
    grey = PAD_VALUE / 255.0
    assert np.allclose(tensor[0, :, :138, :], grey)
    assert np.allclose(tensor[0, :, 138 + 363 :, :], grey)
    assert tensor[0, :, 138 + 363 - 1, :].max() == 0.0
    assert 640 - 138 - 363 == 139

    back = unletterbox_xyxy(np.array([case["letterbox_box_xyxy"]]), lb)
    np.testing.assert_allclose(back[0], [600, 500, 900, 700], atol=0.5)


@pytest.mark.parametrize(
    ("height", "width", "size"),
    [
        (1088, 1920, 640),  # R14: odd scaled side, landscape
        (1920, 1088, 640),  # the same frame in portrait
        (720, 1280, 640),  # 16:9 dashcam
        (540, 960, 416),  # the real clip at another input size
        (481, 641, 320),  # odd sizes on both sides
        (100, 37, 160),  # small portrait, scaled up
        (640, 640, 640),  # already square: no resize, no padding
        (1, 500, 64),  # a one-row image keeps at least one row
    ],
)
def test_round_trip_and_padding_match_reference(height: int, width: int, size: int) -> None:
    from ultralytics.data.augment import LetterBox

    frame = _frame(height, width)
    tensor, lb = letterbox(frame, size)

    # Same pixels as the reference letterbox (ultralytics, centred, no stride rounding).
    reference = LetterBox((size, size), auto=False, center=True)(image=frame)
    expected = reference[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255.0
    np.testing.assert_allclose(tensor, expected, atol=1e-6)

    # A box mapped into input space comes back where it started.
    boxes = np.array([[0, 0, width, height], [width * 0.25, height * 0.4, width * 0.6, height]])
    back = unletterbox_xyxy(_to_input_space(boxes, lb), lb)
    np.testing.assert_allclose(back, boxes, atol=0.5)


def test_boxes_are_clipped_to_the_original_frame() -> None:
    _, lb = letterbox(_frame(1088, 1920), 640)
    back = unletterbox_xyxy(np.array([[-20.0, 100.0, 700.0, 600.0]]), lb)
    np.testing.assert_allclose(back[0], [0, 0, 1920, 1088])


def test_grey_and_bgra_frames_are_accepted() -> None:
    grey = np.full((48, 64), 200, np.uint8)
    bgra = np.dstack([np.full((48, 64, 3), 200, np.uint8), np.zeros((48, 64), np.uint8)])
    a, _ = letterbox(grey, 64)
    b, _ = letterbox(bgra, 64)
    np.testing.assert_array_equal(a, b)


def test_colour_order_is_rgb() -> None:
    frame = np.zeros((32, 32, 3), np.uint8)
    frame[..., 0] = 255  # blue in BGR
    tensor, _ = letterbox(frame, 32)
    assert tensor[0, 2].min() == 1.0 and tensor[0, 0].max() == 0.0


@pytest.mark.parametrize(
    ("frame", "size", "message"),
    [
        (np.zeros((0, 10, 3), np.uint8), 640, "empty frame"),
        (np.zeros((10, 10, 3), np.float32), 640, "dtype"),
        (np.zeros((10, 10, 2), np.uint8), 640, "shape"),
        (np.zeros((10, 10, 3), np.uint8), 0, "positive"),
    ],
)
def test_bad_frames_name_the_problem(frame: np.ndarray, size: int, message: str) -> None:
    with pytest.raises(PreprocessError, match=message):
        letterbox(frame, size)


def test_empty_and_malformed_boxes() -> None:
    _, lb = letterbox(_frame(10, 20), 32)
    assert unletterbox_xyxy(np.zeros((0, 4)), lb).shape == (0, 4)
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        unletterbox_xyxy(np.zeros((3, 5)), lb)


def test_real_still_round_trip(data_dir: Path) -> None:
    frame = cv2.imread(str(data_dir / "stills" / "still_solidWhiteRight.jpg"))
    tensor, lb = letterbox(frame, 640)
    assert tensor.dtype == np.float32 and 0.0 <= tensor.min() and tensor.max() <= 1.0
    assert lb.orig_hw == frame.shape[:2]
    box = np.array([[100.0, 300.0, 500.0, frame.shape[0]]])
    np.testing.assert_allclose(unletterbox_xyxy(_to_input_space(box, lb), lb), box, atol=0.5)
