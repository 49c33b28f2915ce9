"""Label Studio export -> boxes/tasks tables: every known trap, on shared cases and our own."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from roadmark_pipeline.ids import frame_id
from roadmark_pipeline.labeling.convert import annotator_name, parse_export, task_frame_id
from roadmark_pipeline.labeling.regions import UNCONVERTIBLE_KINDS
from roadmark_pipeline.taxonomy import class_names

from .helpers import BREAKAGES, annotation, borderline, broken_task, rect, task

NAMES = ["a", "b", "c"]


def _xyxy(tables) -> list[tuple[float, float, float, float]]:
    return [tuple(row) for row in tables.boxes[["x1", "y1", "x2", "y2"]].to_numpy()]


def test_r05_negative_height_is_normalised(cases_dir) -> None:
    export = json.loads((cases_dir / "R05" / "ls_export.json").read_text())
    tables = parse_export(export, ["car"])
    # y from 90% with height -40% spans 50%..90% of 720 px; x 20%..50% of 1280
    assert _xyxy(tables) == [pytest.approx((256.0, 360.0, 640.0, 648.0))]
    assert len(tables.issues) == 0


def test_r07_class_ids_come_from_the_config_order(cases_dir) -> None:
    export = json.loads((cases_dir / "R07" / "ls_export.json").read_text())
    tables = parse_export(export, ["pedestrian", "car", "traffic_light", "bus"])
    assert tables.boxes[["class_name", "class_id"]].values.tolist() == [
        ["bus", 3],
        ["pedestrian", 0],
    ]


def test_r11_task_states(cases_dir) -> None:
    export = json.loads((cases_dir / "R11" / "ls_export.json").read_text())
    tables = parse_export(export, ["car"])
    assert tables.tasks["status"].tolist() == [
        "labelled",
        "reviewed_empty",
        "unannotated",
        "cancelled",
    ]
    assert tables.tasks["n_annotations"].tolist() == [1, 1, 0, 0]
    assert len(tables.boxes) == 1


@pytest.mark.parametrize(
    ("annotations", "status"),
    [
        ([], "unannotated"),
        ([annotation(1, [], cancelled=True)], "cancelled"),
        ([annotation(1, [])], "reviewed_empty"),
        ([annotation(1, [rect(1, 1, 5, 5, "a")])], "labelled"),
        # one annotator skipped, another drew a box: the frame is labelled
        ([annotation(1, [], cancelled=True), annotation(2, [rect(1, 1, 5, 5, "a")])], "labelled"),
        # one annotator found nothing, another drew: labelled (consensus decides the boxes)
        ([annotation(1, []), annotation(2, [rect(1, 1, 5, 5, "a")])], "labelled"),
    ],
)
def test_task_status(annotations, status) -> None:
    tables = parse_export([task(7, annotations)], NAMES)
    assert tables.tasks.loc[0, "status"] == status


def test_percent_uses_each_results_own_original_size() -> None:
    export = [
        task(1, [annotation(1, [rect(10, 10, 10, 10, "a", ow=1280, oh=720)])]),
        task(2, [annotation(2, [rect(10, 10, 10, 10, "a", ow=960, oh=540)])]),
    ]
    tables = parse_export(export, NAMES)
    assert _xyxy(tables) == [
        pytest.approx((128, 72, 256, 144)),
        pytest.approx((96, 54, 192, 108)),
    ]
    assert tables.boxes[["width", "height"]].values.tolist() == [[1280, 720], [960, 540]]


def test_rotated_rectangle_becomes_the_axis_aligned_box_in_pixels() -> None:
    result = rect(50, 20, 10, 4, "a", rotation=90)  # 100x20 px on 1000x500, turned 90 cw
    tables = parse_export([task(1, [annotation(1, [result])])], NAMES)
    assert _xyxy(tables) == [pytest.approx((480, 100, 500, 200))]


def test_boxes_past_the_edge_are_clipped_and_outside_ones_dropped() -> None:
    results = [
        rect(95, 90, 10, 20, "a", region="edge"),
        rect(110, 10, 5, 5, "b", region="out"),
    ]
    tables = parse_export([task(1, [annotation(1, results)])], NAMES)
    assert _xyxy(tables) == [pytest.approx((950, 450, 1000, 500))]
    assert tables.issues["kind"].tolist() == ["outside_image"]


def test_labels_outside_the_config_are_reported_not_guessed() -> None:
    results = [rect(1, 1, 5, 5, "zebra", region="z"), rect(1, 1, 5, 5, "c", region="c")]
    tables = parse_export([task(1, [annotation(1, results)])], NAMES)
    assert tables.boxes["class_id"].tolist() == [2]
    assert tables.issues.loc[0, "kind"] == "unknown_label"
    assert tables.tasks["status"].tolist() == ["labelled"]


def test_a_task_whose_boxes_all_have_unknown_labels_is_not_reviewed_empty() -> None:
    drawn = [rect(1, 1, 5, 5, "zebra", region="z"), rect(9, 9, 5, 5, "okapi", region="o")]
    tables = parse_export([task(1, [annotation(1, drawn)]), task(2, [annotation(2, [])])], NAMES)
    assert tables.tasks["status"].tolist() == ["unconvertible", "reviewed_empty"]
    assert tables.issues["kind"].tolist() == ["unknown_label", "unknown_label"]


def test_exact_and_near_duplicates_are_dropped_within_an_annotation() -> None:
    results = [
        rect(10, 10, 20, 20, "a", region="1"),
        rect(10, 10, 20, 20, "a", region="2"),  # exact copy
        rect(10.2, 10.1, 20, 20, "a", region="3"),  # near copy (IoU ~0.98)
        rect(10, 10, 20, 20, "b", region="4"),  # same place, other class: kept
        rect(50, 50, 20, 20, "a", region="5"),  # elsewhere: kept
    ]
    tables = parse_export([task(1, [annotation(1, results)])], NAMES)
    assert tables.boxes["class_name"].tolist() == ["a", "b", "a"]
    assert sorted(tables.issues["kind"]) == ["duplicate", "near_duplicate"]


def test_same_box_from_two_annotators_is_not_a_duplicate() -> None:
    box = rect(10, 10, 20, 20, "a")
    tables = parse_export([task(1, [annotation(1, [box]), annotation(2, [box], user=2)])], NAMES)
    assert len(tables.boxes) == 2
    assert len(tables.issues) == 0


def test_borderline_choice_is_attached_to_its_region() -> None:
    results = [rect(1, 1, 5, 5, "a", region="x"), rect(50, 50, 5, 5, "b", region="y")]
    results.append(borderline("y"))
    tables = parse_export([task(1, [annotation(1, results)])], NAMES)
    assert tables.boxes["borderline"].tolist() == [False, True]


def test_exif_sideways_box_is_turned_upright() -> None:
    # Upright frame 500x1000 (portrait) stored sideways (orientation 6: turn 90 cw to view).
    # A browser that ignored EXIF showed the stored 1000x500 pixels; a box at the stored
    # top-left lands at the upright top-right.
    data = {"width": 500, "height": 1000, "exif_orientation": 6}
    result = rect(0, 0, 10, 20, "a", ow=1000, oh=500)  # stored px (0, 0, 100, 100)
    tables = parse_export([task(1, [annotation(1, [result])], data=data)], NAMES)
    assert _xyxy(tables) == [pytest.approx((400, 0, 500, 100))]
    assert tables.boxes[["width", "height"]].values.tolist() == [[500, 1000]]
    assert tables.issues["kind"].tolist() == ["exif_turned"]


def test_exif_upright_box_is_kept_as_is() -> None:
    # the browser applied the EXIF turn: the result's size is already the upright one
    data = {"width": 500, "height": 1000, "exif_orientation": 6}
    result = rect(0, 0, 10, 20, "a", ow=500, oh=1000)
    tables = parse_export([task(1, [annotation(1, [result])], data=data)], NAMES)
    assert _xyxy(tables) == [pytest.approx((0, 0, 50, 200))]
    assert len(tables.issues) == 0


def test_missing_original_size_falls_back_to_task_size() -> None:
    result = rect(10, 10, 10, 10, "a")
    del result["original_width"], result["original_height"]
    tables = parse_export(
        [task(1, [annotation(1, [result])], data={"width": 200, "height": 100})], NAMES
    )
    assert _xyxy(tables) == [pytest.approx((20, 10, 40, 20))]
    assert tables.issues["kind"].tolist() == ["size_from_task"]


def test_annotators_timestamps_and_lead_time() -> None:
    user = {"id": 4, "email": "ann@x.org"}
    export = [task(1, [annotation(1, [rect(1, 1, 5, 5, "a")], user=user, lead_time=12.5)])]
    tables = parse_export(export, NAMES)
    row = tables.boxes.iloc[0]
    assert row["annotator"] == "ann@x.org"
    assert row["lead_time_s"] == 12.5
    assert row["created_at"] == pd.Timestamp("2026-01-01T10:00:00Z")
    assert annotator_name(9) == "user-9"
    assert annotator_name(None) == "unknown"


@pytest.mark.parametrize(
    ("data", "meta", "expected"),
    [
        ({"frame_id": "abc/3"}, {"source_sha256": "f" * 64, "frame_index": 1}, "abc/3"),
        ({}, {"source_sha256": "f" * 64, "frame_index": 8}, "f" * 16 + "/8"),
        ({"source_sha256": "e" * 64, "frame_index": 0}, {}, "e" * 16 + "/0"),
        ({}, {}, None),
    ],
)
def test_frame_id_sources(data, meta, expected) -> None:
    assert task_frame_id({"data": data, "meta": meta}) == expected


def test_shipped_silver_export_parses_to_the_manifest_counts(data_dir) -> None:
    export = json.loads((data_dir / "labels" / "annotations.labelstudio.json").read_text())
    manifest = pd.read_csv(data_dir / "labels" / "MANIFEST.csv")
    tables = parse_export(export, class_names())

    assert len(tables.tasks) == len(manifest) == 113
    per_class = tables.boxes["class_name"].value_counts()
    for name in class_names():
        assert per_class.get(name, 0) == manifest[f"n_{name}"].sum()
    assert len(tables.issues) == 0
    first = export[0]["meta"]
    assert tables.tasks.loc[0, "frame_id"] == frame_id(first["source_sha256"], 0)
    assert tables.tasks["frame_id"].is_unique


def test_export_must_be_a_task_list() -> None:
    with pytest.raises(ValueError, match="list of task objects"):
        parse_export({"tasks": []}, NAMES)  # type: ignore[arg-type]


@pytest.mark.parametrize(("index", "expected"), [("still", "/0"), ("Still ", "/0"), ("x", None)])
def test_still_frame_index_reads_as_zero(index, expected) -> None:
    got = task_frame_id({"data": {}, "meta": {"source_sha256": "a" * 64, "frame_index": index}})
    assert got == (None if expected is None else "a" * 16 + expected)


def test_editor_rotation_is_reported() -> None:
    result = rect(10, 10, 10, 10, "a")
    result["image_rotation"] = 90
    tables = parse_export([task(1, [annotation(1, [result])])], NAMES)
    assert len(tables.boxes) == 1
    assert tables.issues["kind"].tolist() == ["editor_rotation"]


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_a_task_whose_box_cannot_be_converted_is_unconvertible(breakage: str) -> None:
    good = task(1, [annotation(10, [rect(10, 10, 20, 20, "b")])])

    tables = parse_export([good, broken_task(breakage)], NAMES)

    assert tables.tasks["status"].tolist() == ["labelled", "unconvertible"]
    issues = tables.issues[tables.issues["task_id"] == 7]
    assert set(issues["kind"]) & UNCONVERTIBLE_KINDS
    assert 1 in tables.boxes["task_id"].tolist()


def test_a_zero_original_size_falls_back_to_the_task_size() -> None:
    result = rect(10, 10, 20, 20, "a")
    result["original_width"] = 0
    tables = parse_export(
        [task(1, [annotation(1, [result])], data={"width": 1000, "height": 500})], NAMES
    )
    assert tables.tasks["status"].tolist() == ["labelled"]
    assert _xyxy(tables) == [pytest.approx((100, 50, 300, 150))]
    assert tables.issues["kind"].tolist() == ["size_from_task"]


def test_a_cancelled_broken_annotation_does_not_make_the_task_unconvertible() -> None:
    broken = broken_task("value_not_object")
    broken["annotations"][0]["was_cancelled"] = True
    tables = parse_export([broken], NAMES)
    assert tables.tasks["status"].tolist() == ["cancelled"]


@pytest.mark.parametrize("bad_id", ["abc", 1.5, [1]])
def test_task_ids_that_are_not_whole_numbers_refuse_the_export(bad_id) -> None:
    export = [task(1, []), {**task(2, []), "id": bad_id}]
    with pytest.raises(ValueError, match=r"task #1 has id .* not a whole number"):
        parse_export(export, NAMES)


def test_unreadable_timestamps_read_as_missing() -> None:
    odd = annotation(1, [rect(10, 10, 20, 20, "a")], created_at="yesterday-ish")
    tables = parse_export([task(1, [odd])], NAMES)
    assert tables.tasks["status"].tolist() == ["labelled"]
    assert tables.annotations["created_at"].isna().all()
