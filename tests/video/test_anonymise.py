"""Faces and plates are blurred before frames leave ingestion, behind a replaceable detector."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from roadmark_pipeline.video.anonymise import (
    Anonymiser,
    HaarAnonymiser,
    NullAnonymiser,
    anonymise_frame,
    blur_regions,
)
from roadmark_pipeline.video.sampling import SamplingPolicy, sample_source
from tests.video.clips import draw_frame, encode


def _face_scene(
    width: int = 640, height: int = 360, centre: tuple[int, int] = (420, 170), scale: float = 0.8
) -> np.ndarray:
    """A road-like frame with a simple drawn face (skin oval, eyes, brows, nose, mouth)."""
    frame = draw_frame(3, width, height)
    cx, cy = centre

    def at(dx: float, dy: float) -> tuple[int, int]:
        return int(cx + dx * scale), int(cy + dy * scale)

    def size(w: float, h: float) -> tuple[int, int]:
        return int(w * scale), int(h * scale)

    cv2.ellipse(frame, at(0, 0), size(80, 105), 0, 0, 360, (170, 185, 215), -1)
    for side in (-1, 1):
        cv2.ellipse(frame, at(35 * side, -25), size(18, 9), 0, 0, 360, (40, 40, 40), -1)
        cv2.rectangle(frame, at(35 * side - 25, -45), at(35 * side + 25, -40), (60, 60, 60), -1)
    cv2.line(frame, at(0, -20), at(-5, 30), (120, 130, 160), 4)
    cv2.ellipse(frame, at(0, 55), size(30, 10), 0, 0, 180, (60, 60, 120), -1)
    return frame


class FixedBoxes:
    """A detector that always reports the same boxes: stands in for a future model."""

    name = "fixed"

    def __init__(self, boxes: list[list[int]]) -> None:
        self.boxes = np.asarray(boxes, dtype=np.int32).reshape(-1, 4)

    def detect(self, bgr: np.ndarray) -> np.ndarray:
        return self.boxes


def test_any_detector_with_name_and_detect_is_an_anonymiser() -> None:
    assert isinstance(FixedBoxes([]), Anonymiser)
    assert isinstance(HaarAnonymiser(), Anonymiser)
    assert isinstance(NullAnonymiser(), Anonymiser)


def test_blur_changes_only_the_padded_regions() -> None:
    frame = draw_frame(9, 320, 180)
    box = [100, 60, 160, 100]

    blurred, regions = anonymise_frame(frame, FixedBoxes([box]))

    assert regions == 1
    changed = np.any(blurred != frame, axis=2)
    ys, xs = np.nonzero(changed)
    pad_x, pad_y = 0.15 * 60, 0.15 * 40
    assert xs.min() >= 100 - pad_x - 1 and xs.max() <= 160 + pad_x + 1
    assert ys.min() >= 60 - pad_y - 1 and ys.max() <= 100 + pad_y + 1
    # The region really lost its detail: its texture variance collapses.
    assert blurred[60:100, 100:160].std() < 0.5 * frame[60:100, 100:160].std()
    assert frame is not blurred and not np.shares_memory(frame, blurred)


@pytest.mark.parametrize(
    "boxes",
    [
        [],  # nothing found: the frame passes through
        [[-20, -20, 30, 30]],  # clipped at the top-left edge
        [[300, 170, 400, 260]],  # runs off the bottom-right
        [[50, 50, 50, 80]],  # zero width
    ],
)
def test_boxes_at_edges_or_empty_do_not_crash(boxes: list[list[int]]) -> None:
    frame = draw_frame(1, 320, 180)

    blurred, regions = anonymise_frame(frame, FixedBoxes(boxes))

    assert regions == len(boxes)
    assert blurred.shape == frame.shape and blurred.dtype == np.uint8
    if not boxes:
        assert blurred is frame


def test_haar_finds_a_face_and_it_is_unrecognisable_after_blurring() -> None:
    frame = _face_scene()
    haar = HaarAnonymiser()

    found = haar.detect(frame)
    blurred, regions = anonymise_frame(frame, haar)

    assert found.shape[1] == 4 and found.dtype == np.int32
    assert regions >= 1
    x1, y1, x2, y2 = found[0]
    assert x1 < 420 < x2 and y1 < 170 < y2  # the box covers the face's centre
    assert len(haar.detect(blurred)) == 0


def test_haar_boxes_are_in_full_resolution_pixels() -> None:
    small = _face_scene(640, 360, centre=(420, 170), scale=0.8)
    large = cv2.resize(small, (1280, 720), interpolation=cv2.INTER_LINEAR)

    box_small = HaarAnonymiser().detect(small)[0].astype(float)
    box_large = HaarAnonymiser().detect(large)[0].astype(float)

    np.testing.assert_allclose(box_large, box_small * 2, atol=24)


def test_sampled_frames_are_blurred_and_originals_kept_apart(tmp_path: Path) -> None:
    frames = [_face_scene(640, 360) for _ in range(4)]
    clip = encode(frames, tmp_path / "pedestrian.mp4", codec_args=("-c:v", "libx264", "-crf", "10"))

    manifest = sample_source(clip, tmp_path / "out", SamplingPolicy(every_n=2), keep_originals=True)

    assert manifest["anonymised"].all()
    assert (manifest["regions_blurred"] >= 1).all()
    row = manifest.iloc[0]
    shared = cv2.imread(row["path"])
    original = cv2.imread(row["original_path"])
    haar = HaarAnonymiser()
    assert len(haar.detect(original)) >= 1
    assert len(haar.detect(shared)) == 0


def test_blur_regions_leaves_the_input_untouched() -> None:
    frame = draw_frame(2, 320, 180)
    before = frame.copy()

    blur_regions(frame, np.asarray([[0, 0, 100, 100]], dtype=np.int32))

    np.testing.assert_array_equal(frame, before)
