"""YOLO lines never past [0, 1], validation that keeps good lines, folder scans, export."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest
import yaml

from roadmark_pipeline.labeling.config import label_config_xml
from roadmark_pipeline.labeling.yolo import (
    DegenerateBoxError,
    export_to_yolo,
    scan_yolo_folder,
    validate_yolo_labels,
    yolo_line,
)

from .helpers import BREAKAGES, annotation, broken_task, rect, task


def _edges(line: str) -> tuple[float, float, float, float]:
    _, cx, cy, w, h = (float(v) for v in line.split())
    return cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2


def test_r05_line(cases_dir) -> None:
    # the R05 box after negative-height normalisation: x 20..50%, y 50..90% of 1280x720
    assert yolo_line(0, (256, 360, 640, 648), 1280, 720) == "0 0.350000 0.700000 0.300000 0.400000"


def test_r09_box_on_the_corner_stays_inside(cases_dir) -> None:
    case = json.loads((cases_dir / "R09" / "pixel_boxes.json").read_text())
    box = case["boxes_xyxy_px"][0]
    line = yolo_line(box["cls"], box["xyxy"], case["width"], case["height"])
    x_low, x_high, y_low, y_high = _edges(line)
    assert x_high <= 1.0 and y_high <= 1.0
    assert x_low >= 0.0 and y_low >= 0.0
    # the naive formatting the case warns about really does overshoot
    naive = (cases_dir / "R09" / "naive_rounded.txt").read_text()
    assert _edges(naive)[1] > 1.0


def test_r09_validator_flags_the_bad_line_and_keeps_the_good(cases_dir) -> None:
    result = validate_yolo_labels(cases_dir / "R09" / "bad_normalisation.txt", n_classes=6)
    assert [flag.line_number for flag in result.flagged] == [1]
    assert len(result.kept) == 1
    assert not result.is_background


@pytest.mark.parametrize("seed", range(5))
def test_random_edge_boxes_always_serialise_inside(seed) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(400):
        width, height = (int(v) for v in rng.integers(16, 4000, 2))
        x1, y1 = rng.uniform(-50, width), rng.uniform(-50, height)
        x2 = rng.choice([width, width + rng.uniform(0, 30), rng.uniform(x1, width + 1)])
        y2 = rng.choice([height, height + rng.uniform(0, 30), rng.uniform(y1, height + 1)])
        try:
            line = yolo_line(1, (x1, y1, x2, y2), width, height)
        except DegenerateBoxError:
            continue
        x_low, x_high, y_low, y_high = _edges(line)
        assert 0.0 <= x_low and x_high <= 1.0 and 0.0 <= y_low and y_high <= 1.0, line
        # and the written box is within one micro-unit pair of the clipped input
        assert x_high * width == pytest.approx(min(x2, width), abs=2e-6 * width + 1e-9)


@pytest.mark.parametrize(
    "xyxy", [(10, 10, 10, 50), (2000, 10, 2100, 50), (-40, -40, -1, -1), (5, 5, 5, 5)]
)
def test_boxes_without_area_inside_are_refused(xyxy) -> None:
    with pytest.raises(DegenerateBoxError):
        yolo_line(0, xyxy, 1280, 720)


@pytest.mark.parametrize(
    ("text", "n_kept", "reasons"),
    [
        ("0 0.5 0.5 0.2 0.2\n", 1, []),
        ("7 0.5 0.5 0.2 0.2\n", 0, ["class 7 outside"]),  # class id beyond the taxonomy
        ("0 0.5 0.5 0.2\n", 0, ["4 fields"]),
        ("0 0.5 0.5 -0.2 0.2\n", 0, ["non-positive"]),
        ("0 0.95 0.5 0.2 0.2\n", 0, ["outside [0, 1]"]),  # right edge 1.05
        ("0 nan 0.5 0.2 0.2\n", 0, ["non-finite"]),
        ("x 0.5 0.5 0.2 0.2\n", 0, ["not an integer"]),
        ("0 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.2 0.2\n", 1, ["duplicate"]),
        ("0 0.929688 0.891667 0.140625 0.216667\n", 1, []),  # 5e-7 over: rounding, kept
    ],
)
def test_validation_table(tmp_path, text, n_kept, reasons) -> None:
    path = tmp_path / "f.txt"
    path.write_text(text)
    result = validate_yolo_labels(path, n_classes=6)
    assert len(result.kept) == n_kept
    assert len(result.flagged) == len(reasons)
    for flag, reason in zip(result.flagged, reasons, strict=True):
        assert reason in flag.reason


def test_r11_folder_scan(cases_dir) -> None:
    scan = scan_yolo_folder(cases_dir / "R11" / "images", cases_dir / "R11" / "labels")
    assert scan.n_images == 4
    assert scan.labelled == ["f0"]
    assert scan.n_instances == 1
    assert scan.background == {"f1": "empty", "f2": "missing", "f3": "whitespace"}
    assert scan.corrupt == {}


def test_scan_finds_corrupt_images_bad_files_and_orphans(tmp_path) -> None:
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    cv2.imwrite(str(images / "good.jpg"), np.full((32, 48, 3), 90, np.uint8))
    cv2.imwrite(str(images / "allbad.png"), np.zeros((32, 48, 3), np.uint8))
    (images / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (labels / "good.txt").write_text("0 0.5 0.5 0.5 0.5\n0 0.5 1.5 0.1 0.1\n")
    (labels / "allbad.txt").write_text("9 0.5 0.5 0.5 0.5\n")
    (labels / "lost.txt").write_text("0 0.5 0.5 0.5 0.5\n")

    scan = scan_yolo_folder(images, labels, n_classes=6)
    assert scan.labelled == ["good"]
    assert set(scan.corrupt) == {"broken", "allbad"}
    assert [flag.line_number for flag in scan.flagged["good"]] == [2]
    assert scan.orphan_labels == ["lost.txt"]


def test_r07_export_uses_config_order(cases_dir, tmp_path) -> None:
    export = json.loads((cases_dir / "R07" / "ls_export.json").read_text())
    config = (cases_dir / "R07" / "label_config.xml").read_text()
    summary = export_to_yolo(export, config, tmp_path)
    data = yaml.safe_load((tmp_path / "data.yaml").read_text())
    assert data["names"] == ["pedestrian", "car", "traffic_light", "bus"]
    assert data["nc"] == 4
    lines = (tmp_path / "labels" / "drive02_f000100.txt").read_text().splitlines()
    assert lines == [
        "3 0.200000 0.550000 0.200000 0.300000",
        "0 0.625000 0.600000 0.050000 0.200000",
    ]
    assert summary.n_boxes == 2


def test_r05_export_line(cases_dir, tmp_path) -> None:
    export = json.loads((cases_dir / "R05" / "ls_export.json").read_text())
    config = label_config_xml(["car"])
    export_to_yolo(export, config, tmp_path)
    text = (tmp_path / "labels" / "drive01_f000250.txt").read_text()
    assert text == "0 0.350000 0.700000 0.300000 0.400000\n"


def test_r11_export_keeps_reviewed_empty_and_leaves_out_the_rest(cases_dir, tmp_path) -> None:
    export = json.loads((cases_dir / "R11" / "ls_export.json").read_text())
    summary = export_to_yolo(export, label_config_xml(["car"]), tmp_path)
    files = sorted(p.name for p in (tmp_path / "labels").iterdir())
    assert files == ["t1.txt", "t2.txt"]  # dataset = 2 images
    assert len((tmp_path / "labels" / "t1.txt").read_text().splitlines()) == 1
    assert (tmp_path / "labels" / "t2.txt").read_text() == ""
    assert (summary.n_images, summary.n_background) == (2, 1)
    assert (summary.n_unannotated, summary.n_cancelled) == (1, 1)


def test_export_replaces_stale_labels_and_keeps_other_files(tmp_path, cases_dir) -> None:
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "stale.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    (tmp_path / "notes.md").write_text("mine")
    export = json.loads((cases_dir / "R11" / "ls_export.json").read_text())
    export_to_yolo(export, label_config_xml(["car"]), tmp_path)
    assert not (tmp_path / "labels" / "stale.txt").exists()
    assert (tmp_path / "notes.md").read_text() == "mine"


def test_clashing_image_stems_get_their_folder_prefix(tmp_path) -> None:
    names = ["a", "b", "c"]
    export = [
        task(1, [annotation(1, [rect(1, 1, 5, 5, "a")])]),
        task(2, [annotation(2, [rect(1, 1, 5, 5, "b")])]),
    ]
    export[0]["data"]["image"] = "/data/local-files/?d=frames/aaaa/000004.jpg"
    export[1]["data"]["image"] = "/data/local-files/?d=frames/bbbb/000004.jpg"
    summary = export_to_yolo(export, label_config_xml(names), tmp_path)
    assert sorted(summary.label_files) == ["aaaa_000004.txt", "bbbb_000004.txt"]
    index = (tmp_path / "images.csv").read_text().splitlines()
    assert index[0] == "label_file,image,frame_id,image_file" and len(index) == 3
    assert index[1].endswith(",aaaa_000004.jpg")


def test_several_annotations_write_the_latest(tmp_path) -> None:
    early = annotation(1, [rect(1, 1, 5, 5, "a")], created_at="2026-01-01T10:00:00Z")
    late = annotation(2, [rect(1, 1, 5, 5, "b")], created_at="2026-01-02T10:00:00Z")
    summary = export_to_yolo([task(1, [late, early])], label_config_xml(["a", "b"]), tmp_path)
    assert (tmp_path / "labels" / "t1.txt").read_text().startswith("1 ")
    assert summary.n_multi_annotation == 1


def test_export_of_the_shipped_silver_labels_round_trips(data_dir, tmp_path) -> None:
    # the shipped YOLO labels and the shipped LS export describe the same boxes
    export = json.loads((data_dir / "labels" / "annotations.labelstudio.json").read_text())
    from roadmark_pipeline.taxonomy import class_names

    summary = export_to_yolo(export, label_config_xml(class_names()), tmp_path)
    assert summary.n_images == 113
    assert summary.n_boxes == 899 + 58 + 77
    scan_dir = tmp_path / "img"
    scan_dir.mkdir()
    for name in summary.label_files:  # blank stand-in images so the folder scan can pair them
        shutil.copy(
            data_dir / "stills" / "still_solidWhiteCurve.jpg", scan_dir / f"{name[:-4]}.jpg"
        )
    scan = scan_yolo_folder(scan_dir, tmp_path / "labels", n_classes=6)
    assert scan.n_instances == summary.n_boxes
    assert not scan.flagged and not scan.corrupt


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_unconvertible_tasks_are_left_out_not_written_as_background(tmp_path, breakage) -> None:
    good = task(1, [annotation(10, [rect(10, 10, 20, 20, "b")])])
    empty = task(2, [annotation(20, [])])  # reviewed and found empty: real background

    summary = export_to_yolo(
        [good, empty, broken_task(breakage)], label_config_xml(["a", "b"]), tmp_path
    )

    assert sorted(p.name for p in (tmp_path / "labels").iterdir()) == ["t1.txt", "t2.txt"]
    assert (summary.n_images, summary.n_background) == (2, 1)
    assert summary.n_unconvertible == 1 and list(summary.unconvertible) == [7]
    assert "t7" not in (tmp_path / "images.csv").read_text()


def test_the_reason_names_the_annotation_and_result(tmp_path) -> None:
    summary = export_to_yolo(
        [broken_task("original_width_zero")], label_config_xml(["a"]), tmp_path
    )
    assert summary.unconvertible[7].startswith("annotation 70, result 'r7': no_size: ")
    summary = export_to_yolo(
        [broken_task("annotations_not_list")], label_config_xml(["a"]), tmp_path
    )
    assert summary.unconvertible[7] == 'malformed: "annotations" is a str, not a list'


def test_a_class_list_works_as_the_label_config(cases_dir, tmp_path) -> None:
    export = json.loads((cases_dir / "R05" / "ls_export.json").read_text())
    classes = (cases_dir / "R05" / "classes.txt").read_text()
    summary = export_to_yolo(export, classes, tmp_path)
    assert summary.names == ["car"]
    text = (tmp_path / "labels" / "drive01_f000250.txt").read_text()
    assert text == "0 0.350000 0.700000 0.300000 0.400000\n"  # R05 EXPECTED.txt


def _image(path, width: int, height: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((height, width, 3), 90, dtype=np.uint8))


def test_images_are_linked_and_paired_with_their_labels(tmp_path) -> None:
    root, out = tmp_path / "lake", tmp_path / "dataset"
    export = [
        task(1, [annotation(10, [rect(10, 10, 20, 20, "a")])]),
        task(2, [annotation(20, [])]),
        task(3, [annotation(30, [rect(50, 50, 10, 10, "b")])]),  # its image is not there
    ]
    export[1]["data"]["image"] = "/data/upload/4/t2.png"  # an upload: found by its name
    _image(root / "frames" / "t1.jpg", 100, 50)
    _image(root / "t2.png", 100, 50)

    summary = export_to_yolo(export, label_config_xml(["a", "b"]), out, image_root=root)

    assert sorted(p.name for p in (out / "images").iterdir()) == ["t1.jpg", "t2.png"]
    assert (out / "images" / "t1.jpg").stat().st_ino == (root / "frames" / "t1.jpg").stat().st_ino
    assert summary.images_written == 2 and list(summary.missing_images) == [3]
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["path"] == str(out.absolute()) and data["train"] == "images"
    scan = scan_yolo_folder(out / data["train"], out / "labels", n_classes=2)
    assert scan.labelled == ["t1"] and list(scan.background) == ["t2"]
    assert not scan.corrupt and not scan.orphan_labels


def test_missing_sizes_are_read_from_the_image(tmp_path) -> None:
    root = tmp_path / "lake"
    _image(root / "frames" / "t7.jpg", 200, 100)
    export = [broken_task("original_size_missing")]

    without = export_to_yolo(export, label_config_xml(["a"]), tmp_path / "no-images")
    with_images = export_to_yolo(export, label_config_xml(["a"]), tmp_path / "ds", image_root=root)

    assert without.n_unconvertible == 1 and without.n_images == 0
    assert with_images.n_unconvertible == 0 and with_images.n_boxes == 1
    line = (tmp_path / "ds" / "labels" / "t7.txt").read_text()
    assert line == "0 0.200000 0.200000 0.200000 0.200000\n"


def test_images_outside_the_root_are_not_taken(tmp_path) -> None:
    root = tmp_path / "lake"
    root.mkdir()
    _image(tmp_path / "secret.jpg", 10, 10)
    sneaky = task(1, [annotation(10, [])])
    sneaky["data"]["image"] = "/data/local-files/?d=../secret.jpg"
    sneaky_again = task(2, [annotation(20, [])])
    sneaky_again["data"]["image"] = f"/data/local-files/?d={tmp_path / 'secret.jpg'}"

    summary = export_to_yolo(
        [sneaky, sneaky_again], label_config_xml(["a"]), tmp_path / "ds", image_root=root
    )

    assert summary.images_written == 0 and sorted(summary.missing_images) == [1, 2]
    assert list((tmp_path / "ds" / "images").iterdir()) == []


def test_without_an_image_folder_images_is_left_alone(tmp_path, cases_dir) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "mine.jpg").write_bytes(b"placed by hand")
    export = json.loads((cases_dir / "R11" / "ls_export.json").read_text())
    summary = export_to_yolo(export, label_config_xml(["car"]), tmp_path)
    assert summary.images_written == 0
    assert (tmp_path / "images" / "mine.jpg").read_bytes() == b"placed by hand"
    rows = (tmp_path / "images.csv").read_text().splitlines()
    assert [row.split(",")[-1] for row in rows] == ["image_file", "t1.jpg", "t2.jpg"]
