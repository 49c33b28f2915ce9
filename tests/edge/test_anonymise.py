"""Evidence frames are anonymised: a real face is found and made unrecognisable."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import pytest

from jetson_runtime.anonymise import AnonymiseError, Anonymiser, load_cascades, write_evidence

FACE = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"  # a real portrait


@pytest.fixture(scope="module")
def anonymiser() -> Anonymiser:
    return Anonymiser()


def test_a_real_face_is_found_and_obscured(anonymiser: Anonymiser) -> None:
    portrait = cv2.imread(str(FACE))
    regions = anonymiser.regions(portrait)
    assert regions, "the frontal-face cascade should find Grace Hopper's face"

    clean, count = anonymiser(portrait)
    assert count == len(regions)
    assert anonymiser.regions(clean) == []  # nothing recognisable as a face is left
    x, y, w, h = regions[0]
    before = cv2.Laplacian(portrait[y : y + h, x : x + w], cv2.CV_64F).var()
    after = cv2.Laplacian(clean[y : y + h, x : x + w], cv2.CV_64F).var()
    assert after < before / 20  # the detail is gone
    assert np.array_equal(portrait, cv2.imread(str(FACE)))  # the input is not modified


def test_road_frame_without_people_is_unchanged(anonymiser: Anonymiser, data_dir: Path) -> None:
    road = cv2.imread(str(data_dir / "stills" / "still_solidWhiteRight.jpg"))
    clean, count = anonymiser(road)
    assert count == 0 and np.array_equal(clean, road)


def test_missing_cascade_refuses(tmp_path: Path) -> None:
    with pytest.raises(AnonymiseError, match="not found"):
        load_cascades(["haarcascade_that_does_not_exist.xml"])


def test_evidence_is_written_atomically(tmp_path: Path) -> None:
    frame = np.zeros((20, 30, 3), np.uint8)
    path = write_evidence(tmp_path, "f_0000001_n2", frame, {"n_detections": 2})
    assert cv2.imread(str(path)).shape == (20, 30, 3)
    assert json.loads(path.with_suffix(".json").read_text()) == {"n_detections": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f_0000001_n2.jpg", "f_0000001_n2.json"]
