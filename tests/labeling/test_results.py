"""Pixel boxes -> Label Studio result items."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from roadmark_pipeline.labeling.results import boxes_to_results, exif_orientation, task_data_value


def test_missing_borderline_cells_read_as_false() -> None:
    # a column filled for some rows only: pandas puts NaN in the others, and bool(NaN) is True
    boxes = pd.DataFrame(
        [
            {"class_id": 0, "x1": 1, "y1": 1, "x2": 5, "y2": 5},
            {"class_id": 1, "x1": 1, "y1": 1, "x2": 5, "y2": 5, "borderline": True},
        ]
    )
    results = boxes_to_results(boxes, 100, 100, ["a", "b"])
    assert [r["type"] for r in results] == ["rectanglelabels", "rectanglelabels", "choices"]
    assert results[2]["id"] == results[1]["id"]


def test_result_geometry_and_scores() -> None:
    boxes = pd.DataFrame([{"class_id": 1, "x1": 10, "y1": 20, "x2": 60, "y2": 70, "score": 0.5}])
    (item,) = boxes_to_results(boxes, 200, 100, ["a", "b"])
    assert item["value"]["rectanglelabels"] == ["b"]
    assert (item["original_width"], item["original_height"]) == (200, 100)
    assert [item["value"][k] for k in ("x", "y", "width", "height")] == [5, 20, 25, 50]
    assert item["score"] == 0.5


@pytest.mark.parametrize("class_id", [-1, 2])
def test_class_ids_outside_the_config_are_refused(class_id) -> None:
    boxes = pd.DataFrame([{"class_id": class_id, "x1": 1, "y1": 1, "x2": 5, "y2": 5}])
    with pytest.raises(ValueError, match="outside the labeling config"):
        boxes_to_results(boxes, 100, 100, ["a", "b"])


def test_exif_orientation_of_files(tmp_path) -> None:
    from PIL import Image

    plain, turned, junk = tmp_path / "a.jpg", tmp_path / "b.jpg", tmp_path / "c.jpg"
    Image.new("RGB", (8, 4)).save(plain)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (8, 4)).save(turned, exif=exif)
    junk.write_bytes(b"nope")
    assert [exif_orientation(p) for p in (plain, turned, junk)] == [1, 6, 1]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (np.int64(3), 3),
        (np.float32(0.5), 0.5),
        (float("nan"), None),
        (pd.Timestamp("2026-01-01T00:00:00Z"), "2026-01-01T00:00:00+00:00"),
        ("text", "text"),
        (None, None),
    ],
)
def test_task_data_values_are_json_safe(value, expected) -> None:
    assert task_data_value(value) == expected
