"""Grouped, stratified splits and content-hashed YOLO dataset versions."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from roadmark_pipeline.model.dataset import (
    DatasetError,
    SplitConfig,
    SplitError,
    split_frames,
    write_yolo_dataset,
    yolo_label_line,
)
from roadmark_pipeline.taxonomy import class_names

NAMES = class_names()


def make_drives(spec: dict[str, list[list[int]]], tmp_path: Path | None = None):
    """Build frames and boxes: drive name -> one list of class ids per frame."""
    frames, boxes = [], []
    for drive_index, (drive, frame_classes) in enumerate(spec.items()):
        sha = f"{drive_index:02x}" * 32
        for index, classes in enumerate(frame_classes):
            fid = f"{sha[:16]}/{index}"
            path = ""
            if tmp_path is not None:
                path = tmp_path / "src" / f"{drive}_{index}.jpg"
                path.parent.mkdir(exist_ok=True)
                path.write_bytes(f"image {drive} {index}".encode())
            frames.append(
                {
                    "frame_id": fid,
                    "source_sha256": sha,
                    "path": str(path),
                    "width": 640,
                    "height": 360,
                    "camera_model": "cam_a" if drive_index % 2 else "cam_b",
                }
            )
            for box_index, class_index in enumerate(classes):
                x = 10 + 50 * box_index
                boxes.append(
                    {
                        "frame_id": fid,
                        "class_id": class_index,
                        "class_name": NAMES[class_index],
                        "x1": x,
                        "y1": 100,
                        "x2": x + 40,
                        "y2": 130,
                    }
                )
    return pd.DataFrame(frames), pd.DataFrame(boxes)


SIX_DRIVES = {f"d{i}": [[0, 5], [0], [0, 2] if i % 2 else [0]] for i in range(6)}


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_drive_is_never_on_two_sides(seed):
    frames, boxes = make_drives(SIX_DRIVES)
    result = split_frames(frames, boxes, NAMES, SplitConfig(test_share=0.3, seed=seed))
    sides = frames.assign(split=result.assignment.loc[frames["frame_id"]].to_numpy())
    assert sides.groupby("source_sha256")["split"].nunique().max() == 1
    assert set(result.assignment) == {"train", "test"}


def test_split_is_reproducible_and_seed_dependent_only_in_ties():
    frames, boxes = make_drives(SIX_DRIVES)
    first = split_frames(frames, boxes, NAMES, SplitConfig(seed=7))
    again = split_frames(frames, boxes, NAMES, SplitConfig(seed=7))
    pd.testing.assert_series_equal(first.assignment, again.assignment)


def test_a_class_in_two_drives_is_on_both_sides():
    # yellow_line (2) lives in d1 and d3 only; stratification must put one drive on each side.
    frames, boxes = make_drives(SIX_DRIVES)
    result = split_frames(frames, boxes, NAMES, SplitConfig(test_share=0.3))
    yellow = boxes[boxes["class_id"] == 2]["frame_id"]
    assert set(result.assignment.loc[yellow]) == {"train", "test"}


@pytest.mark.parametrize(
    "rare_spec",
    [
        [[4]],  # one crosswalk box in one frame
        [[4], [4, 4]],  # several crosswalk boxes, but all in one drive
    ],
)
def test_class_of_a_single_drive_goes_to_train_with_a_warning(rare_spec):
    spec = {**SIX_DRIVES, "rare": rare_spec}
    frames, boxes = make_drives(spec)
    result = split_frames(frames, boxes, NAMES, SplitConfig(test_share=0.3))
    crosswalk_frames = boxes[boxes["class_id"] == 4]["frame_id"]
    assert set(result.assignment.loc[crosswalk_frames]) == {"train"}
    assert any("crosswalk" in warning for warning in result.warnings)


def test_only_one_drive_leaves_test_empty_with_a_warning():
    frames, boxes = make_drives({"only": [[0], [0, 5]]})
    result = split_frames(frames, boxes, NAMES, SplitConfig())
    assert set(result.assignment) == {"train"}
    assert any("test split is empty" in warning for warning in result.warnings)


def test_slices_are_stratified():
    # Drives alternate between two cameras; a 50 % test share must hold both cameras.
    frames, boxes = make_drives({f"d{i}": [[0], [0]] for i in range(8)})
    config = SplitConfig(test_share=0.5, stratify_columns=("camera_model",))
    result = split_frames(frames, boxes, NAMES, config)
    test_frames = frames[result.assignment.loc[frames["frame_id"]].to_numpy() == "test"]
    assert set(test_frames["camera_model"]) == {"cam_a", "cam_b"}


def test_val_share_makes_three_splits():
    frames, boxes = make_drives({f"d{i}": [[0, 5]] * 3 for i in range(10)})
    result = split_frames(frames, boxes, NAMES, SplitConfig(test_share=0.2, val_share=0.2))
    assert result.summary()["groups"].to_dict() == {"train": 6, "val": 2, "test": 2}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (SplitConfig(test_share=1.2), "test_share"),
        (SplitConfig(test_share=0.6, val_share=0.5), "leave a share"),
        (SplitConfig(group_column="drive_id"), "drive_id"),
        (SplitConfig(stratify_columns=("weather",)), "weather"),
    ],
)
def test_bad_split_requests_name_the_fix(config, message):
    frames, boxes = make_drives(SIX_DRIVES)
    with pytest.raises(SplitError, match=message):
        split_frames(frames, boxes, NAMES, config)


def test_boxes_of_unknown_frames_are_rejected():
    frames, boxes = make_drives(SIX_DRIVES)
    with pytest.raises(SplitError, match="missing from the frames table"):
        split_frames(frames.iloc[2:], boxes, NAMES, SplitConfig())


def test_real_frames_split_by_clip(silver_all):
    frames, boxes = silver_all
    result = split_frames(frames, boxes, NAMES, SplitConfig(stratify_columns=("camera_model",)))
    clips = frames.assign(split=result.assignment.loc[frames["frame_id"]].to_numpy())
    per_clip = clips[clips["clip"] != "still"].groupby("clip")["split"].nunique()
    assert per_clip.max() == 1
    tested = set(clips[clips["split"] == "test"]["clip"])
    assert tested and tested != set(clips["clip"])
    # Every class present in the data that is spread over several drives is tested too.
    test_classes = set(
        boxes[boxes["frame_id"].isin(clips[clips["split"] == "test"]["frame_id"])]["class_name"]
    )
    assert test_classes == {"white_line", "yellow_line", "guardrail"}


@pytest.mark.parametrize(
    ("xyxy", "size", "clipped"),
    [
        # R09's kind: a box touching the right/bottom border must not pass 1.0 once rounded.
        ((1100, 564, 1280, 720), (1280, 720), (1100, 564, 1280, 720)),
        # Past the border: clipped to the image first.
        ((1200, 700, 1300, 740), (1280, 720), (1200, 700, 1280, 720)),
        ((0, 0, 640, 360), (640, 360), (0, 0, 640, 360)),
        # Negative extents are clipped at 0.
        ((-10, -5, 20, 30), (640, 360), (0, 0, 20, 30)),
        # Thirds do not round evenly.
        ((100 / 3, 200 / 3, 1000 / 3, 700 / 3), (640, 360), (100 / 3, 200 / 3, 1000 / 3, 700 / 3)),
    ],
)
def test_yolo_label_line_stays_inside_the_image(xyxy, size, clipped):
    line = yolo_label_line(3, xyxy, *size)
    class_text, *values = line.split()
    assert class_text == "3" and all(len(value.split(".")[1]) == 6 for value in values)
    cx, cy, w, h = map(float, values)
    # The written box stays inside the image, exactly as written ...
    assert cx + w / 2 <= 1.0 and cy + h / 2 <= 1.0
    assert cx - w / 2 >= 0.0 and cy - h / 2 >= 0.0
    # ... and close to the clipped box: each edge moves inward by under 1e-6, and the width
    # loses at most one more millionth to stay even, so 3e-6 bounds every value.
    width, height = size
    x1, y1, x2, y2 = clipped
    exact = ((x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height)
    assert all(abs(a - b) <= 3e-6 for a, b in zip((cx, cy, w, h), exact, strict=True))


@pytest.mark.parametrize("xyxy", [(10, 10, 10, 50), (700, 10, 800, 50), (10, 50, 40, 20)])
def test_boxes_of_no_area_give_no_line(xyxy):
    assert yolo_label_line(0, xyxy, 640, 360) is None


def _write(tmp_path, frames, boxes, assignment=None):
    assignment = (
        assignment
        if assignment is not None
        else pd.Series(
            ["test" if i % 3 == 0 else "train" for i in range(len(frames))],
            index=frames["frame_id"].to_numpy(),
        )
    )
    return write_yolo_dataset(frames, boxes, assignment, NAMES, tmp_path / "datasets")


def test_dataset_layout_names_and_background(tmp_path):
    spec = {"a": [[0, 5], [], [2]], "b": [[0], [5]]}
    frames, boxes = make_drives(spec, tmp_path)
    info = _write(tmp_path, frames, boxes)

    data = yaml.safe_load(info.data_yaml.read_text())
    assert data["names"] == dict(enumerate(NAMES)) and data["nc"] == 6
    assert data["val"] == "images/train"  # no val split: never select on test
    assert info.data_yaml.parent.name == info.version and len(info.version) == 16
    background = info.root / "labels" / "train" / f"{'00' * 8}_000001.txt"
    assert background.is_file() and background.read_text() == ""
    assert sum(info.n_frames.values()) == 5
    assert info.counts.loc[("train", "guardrail"), "boxes"] == 1
    assert info.counts.loc[("test", "white_line"), "frames"] == 2
    assert (info.root / "card.md").read_text().startswith(f"# Dataset {info.version}")
    assert not list(info.root.parent.glob(".*"))  # no staging leftovers


def test_version_is_content_hashed_and_immutable(tmp_path):
    frames, boxes = make_drives({"a": [[0, 5], [2]], "b": [[0], [5]]}, tmp_path)
    first = _write(tmp_path, frames, boxes)
    marker = first.root / "labels" / "train"
    before = {path.name: path.stat().st_mtime_ns for path in marker.iterdir()}

    again = _write(tmp_path, frames, boxes)
    assert again.version == first.version
    assert {path.name: path.stat().st_mtime_ns for path in marker.iterdir()} == before

    moved = boxes.copy()
    moved.loc[0, "x2"] += 5
    changed = _write(tmp_path, frames, moved)
    assert changed.version != first.version
    assert first.root.is_dir()  # the old version stays as it was


def test_missing_split_or_image_is_a_clear_error(tmp_path):
    frames, boxes = make_drives({"a": [[0], [5]]}, tmp_path)
    partial = pd.Series(["train"], index=frames["frame_id"].iloc[:1].to_numpy())
    with pytest.raises(DatasetError, match="have no split"):
        _write(tmp_path, frames, boxes, partial)
    Path(frames.loc[1, "path"]).unlink()
    with pytest.raises(DatasetError, match="images are missing"):
        _write(tmp_path, frames, boxes)
