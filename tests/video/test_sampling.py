"""Sampling takes the right frames, upright, judged and anonymised, and never half-writes a folder.

Each written JPEG is read back and its bar-coded index compared with the manifest's frame_index:
that catches a blank, duplicated or wrongly rotated frame, not just a wrong count.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from roadmark_pipeline.ids import frame_id
from roadmark_pipeline.video.anonymise import NullAnonymiser, unanonymised_frames
from roadmark_pipeline.video.probe import UnreadableSourceError, probe_source
from roadmark_pipeline.video.sampling import MANIFEST_COLUMNS, SamplingPolicy, sample_source
from tests.video.clips import (
    draw_frame,
    encode,
    exif_still,
    make_clip,
    make_vfr_clip,
    marker_corner,
    read_index,
    vfr_times,
)


def _read_back(manifest: pd.DataFrame) -> list[np.ndarray]:
    return [cv2.imread(path) for path in manifest["path"]]


def test_r01_every_25th_frame_comes_out_upright(cases_dir: Path, tmp_path: Path) -> None:
    clip = cases_dir / "R01" / "portrait_rot90_18fps_100f.mp4"

    manifest = sample_source(clip, tmp_path / "r01", SamplingPolicy(every_n=25))

    assert manifest["frame_index"].tolist() == [0, 25, 50, 75]
    for row, image in zip(manifest.itertuples(), _read_back(manifest), strict=True):
        assert image.shape[:2] == (320, 180)  # 320 tall x 180 wide
        assert (row.height, row.width) == (320, 180)
        assert marker_corner(image) == "top-left"
        assert read_index(image) == row.frame_index


def test_r02_every_10th_of_a_truncated_file(cases_dir: Path, tmp_path: Path) -> None:
    clip = cases_dir / "R02" / "truncated_header100.mp4"

    manifest = sample_source(clip, tmp_path / "r02", SamplingPolicy(every_n=10))

    assert manifest["frame_index"].tolist() == [0, 10, 20, 30, 40]
    assert [read_index(image) for image in _read_back(manifest)] == [0, 10, 20, 30, 40]
    assert manifest["timestamp_ms"].tolist() == [0, 1000, 2000, 3000, 4000]


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotated_clips_are_sampled_upright(tmp_path: Path, rotation: int) -> None:
    clip = make_clip(tmp_path / "rot.mp4", count=9, rotation_cw=rotation)

    manifest = sample_source(clip, tmp_path / "out", SamplingPolicy(every_n=4))

    assert manifest["frame_index"].tolist() == [0, 4, 8]
    for row, image in zip(manifest.itertuples(), _read_back(manifest), strict=True):
        assert image.shape[:2] == (180, 320)
        assert marker_corner(image) == "top-left"
        assert read_index(image) == row.frame_index


def test_manifest_schema_and_ids_on_a_real_clip(data_dir: Path, tmp_path: Path) -> None:
    clip = data_dir / "videos" / "test_small1.mp4"
    info = probe_source(clip)

    manifest = sample_source(clip, tmp_path / "frames", SamplingPolicy(), info=info)

    assert tuple(manifest.columns) == MANIFEST_COLUMNS
    assert manifest["frame_index"].tolist() == [0, 25, 50, 75]  # 88 decode: 0..87
    assert manifest["timestamp_ms"].tolist() == [0, 1000, 2000, 3000]
    assert manifest["frame_id"].tolist() == [frame_id(info.sha256, i) for i in (0, 25, 50, 75)]
    assert (manifest["source_sha256"] == info.sha256).all()
    assert (manifest["rule"] == "every_n=25").all()
    assert manifest["anonymised"].all()
    assert manifest["usable"].all() and (manifest["unusable_reason"] == "").all()
    assert manifest["lat"].isna().all() and manifest["lon"].isna().all()
    for path in manifest["path"]:
        assert Path(path).is_absolute() and Path(path).is_file()
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == [
        "000000.jpg",
        "000025.jpg",
        "000050.jpg",
        "000075.jpg",
    ]


def test_every_seconds_follows_container_time_on_variable_rate(tmp_path: Path) -> None:
    times = vfr_times()
    clip = make_vfr_clip(tmp_path / "vfr.mp4")
    step = 0.5
    # The first frame at or after each multiple of 0.5 s, from the known timestamps.
    expected, slot = [], 0.0
    for index, t in enumerate(times):
        if t + 1e-9 >= slot:
            expected.append(index)
            slot = (int(t / step + 1e-9) + 1) * step

    manifest = sample_source(
        clip,
        tmp_path / "out",
        SamplingPolicy(every_n=None, every_seconds=step),
        anonymiser=NullAnonymiser(),
    )

    assert manifest["frame_index"].tolist() == expected
    assert manifest["timestamp_ms"].tolist() == [round(times[i] * 1000) for i in expected]
    assert (manifest["rule"] == "every_seconds=0.5").all()
    assert [read_index(image) for image in _read_back(manifest)] == expected


def test_skip_static_drops_repeats_while_standing_still(tmp_path: Path) -> None:
    # 40 frames parked (one view, sensor noise only: the bar code stays at 0), then 40 driving.
    parked = [draw_frame(0, 320, 180, shift=0, noise=2, noise_seed=i) for i in range(40)]
    driving = [draw_frame(40 + i, 320, 180, shift=3 * i + 5) for i in range(40)]
    clip = encode(parked + driving, tmp_path / "stop_and_go.mp4")

    plain = sample_source(
        clip, tmp_path / "all", SamplingPolicy(every_n=10), anonymiser=NullAnonymiser()
    )
    skipping = sample_source(
        clip,
        tmp_path / "moving",
        SamplingPolicy(every_n=10, skip_static=True),
        anonymiser=NullAnonymiser(),
    )

    assert plain["frame_index"].tolist() == list(range(0, 80, 10))
    assert skipping["frame_index"].tolist() == [0, 40, 50, 60, 70]
    assert (skipping["rule"] == "every_n=10;skip_static<=3").all()
    assert [read_index(image) for image in _read_back(skipping)][1:] == [40, 50, 60, 70]


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("dark", "too_dark"),
        ("blurred", "too_blurred"),
        ("overexposed", "overexposed"),
    ],
)
def test_unusable_frames_are_flagged_not_dropped(tmp_path: Path, fault: str, reason: str) -> None:
    frames = []
    for i in range(10):
        frame = draw_frame(i, 320, 180, shift=i)
        if i >= 5:
            frame = _spoil(frame, fault)
        frames.append(frame)
    clip = encode(frames, tmp_path / f"{fault}.mp4", codec_args=("-c:v", "libx264", "-crf", "12"))

    manifest = sample_source(
        clip, tmp_path / "out", SamplingPolicy(every_n=1), anonymiser=NullAnonymiser()
    )

    assert len(manifest) == 10
    good, bad = manifest.iloc[:5], manifest.iloc[5:]
    assert good["usable"].all(), good[["blur", "brightness", "unusable_reason"]]
    assert not bad["usable"].any()
    assert all(reason in text.split(",") for text in bad["unusable_reason"])
    assert all(Path(path).is_file() for path in bad["path"])


def test_failed_run_leaves_previous_frames_intact(tmp_path: Path) -> None:
    out = tmp_path / "frames"
    first = sample_source(
        make_clip(tmp_path / "a.mp4", count=10),
        out,
        SamplingPolicy(every_n=5),
        anonymiser=NullAnonymiser(),
    )
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    class Exploding:
        name = "exploding"
        calls = 0

        def detect(self, bgr: np.ndarray) -> np.ndarray:
            Exploding.calls += 1
            if Exploding.calls == 2:
                raise RuntimeError("detector crashed mid-run")
            return np.zeros((0, 4), dtype=np.int32)

    with pytest.raises(RuntimeError, match="mid-run"):
        sample_source(
            make_clip(tmp_path / "b.mp4", count=30),
            out,
            SamplingPolicy(every_n=5),
            anonymiser=Exploding(),
        )

    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    assert len(first) == 2


def test_unreadable_source_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    out = tmp_path / "frames"

    with pytest.raises(UnreadableSourceError, match="notes.mp4: not a video container"):
        sample_source(bad, out, SamplingPolicy())

    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.mp4"]


def test_rerun_replaces_the_folder_as_a_whole(tmp_path: Path) -> None:
    out = tmp_path / "frames"
    sample_source(
        make_clip(tmp_path / "a.mp4", count=10),
        out,
        SamplingPolicy(every_n=3),
        anonymiser=NullAnonymiser(),
    )

    sample_source(
        make_clip(tmp_path / "b.mp4", count=10),
        out,
        SamplingPolicy(every_n=5),
        anonymiser=NullAnonymiser(),
        manifest_name="manifest.parquet",
    )

    assert sorted(p.name for p in out.iterdir()) == ["000000.jpg", "000005.jpg", "manifest.parquet"]
    stored = pd.read_parquet(out / "manifest.parquet")
    assert stored["frame_index"].tolist() == [0, 5]


def test_originals_kept_only_when_asked_and_null_anonymiser_is_flagged(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "a.mp4", count=4)

    without = sample_source(
        clip, tmp_path / "plain", SamplingPolicy(every_n=2), anonymiser=NullAnonymiser()
    )
    kept = sample_source(clip, tmp_path / "kept", SamplingPolicy(every_n=2), keep_originals=True)

    assert not (tmp_path / "plain" / "originals").exists()
    assert (without["original_path"] == "").all()
    assert all(Path(p).is_file() and "/originals/" in p for p in kept["original_path"])
    assert unanonymised_frames(without) == without["frame_id"].tolist()
    assert unanonymised_frames(kept) == []


def test_still_image_is_one_upright_frame(tmp_path: Path) -> None:
    still = exif_still(tmp_path / "photo.jpg", orientation=6)

    manifest = sample_source(still, tmp_path / "out", SamplingPolicy())

    assert manifest["frame_index"].tolist() == [0]
    assert manifest["rule"].tolist() == ["still"]
    assert (manifest["camera_make"].tolist(), manifest["camera_model"].tolist()) == (
        ["StillMaker"],
        ["SM-1"],
    )
    image = cv2.imread(manifest["path"].iloc[0])
    assert image.shape[:2] == (180, 320)
    assert marker_corner(image) == "top-left"
    assert read_index(image) == 7


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"every_n": None}, "set exactly one"),
        ({"every_n": 5, "every_seconds": 1.0}, "set exactly one"),
        ({"every_seconds": 2.0}, "set exactly one"),  # every_n keeps its default 25
        ({"every_n": 0}, "every_n=0"),
        ({"every_n": None, "every_seconds": -1.0}, "every_seconds=-1.0"),
        ({"static_threshold": -1.0}, "static_threshold=-1.0"),
    ],
)
def test_policy_validation_names_the_bad_value(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SamplingPolicy(**kwargs)


def _spoil(frame: np.ndarray, fault: str) -> np.ndarray:
    if fault == "dark":
        return (frame * 0.12).astype(np.uint8)
    if fault == "blurred":
        return cv2.GaussianBlur(frame, (0, 0), 6)
    return np.clip(frame.astype(np.int16) + 200, 0, 255).astype(np.uint8)
