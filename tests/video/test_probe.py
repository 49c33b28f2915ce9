"""Probing tells the truth: decodable frames, timing, rotation, camera, or a clear error.

Covers the shared cases R01 (rotation) and R02 (header promises more than decodes), the four
real clips, and files of the same kinds made here with ffmpeg.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from roadmark_pipeline.ids import sha256_file
from roadmark_pipeline.video.errors import SidecarError
from roadmark_pipeline.video.probe import (
    SourceInfo,
    UnreadableSourceError,
    frame_timestamps,
    probe_source,
)
from tests.video.clips import (
    exif_still,
    make_audio_only,
    make_clip,
    make_vfr_clip,
    remux,
    run_ffmpeg,
    vfr_times,
)

# From /work/shared/data/README.md: (file, header frames, decodable frames, width, height, sha256)
REAL_CLIPS = [
    ("solidWhiteRight.mp4", 221, 221, 960, 540, "2d8e14b46fe89afb"),
    ("test_video.mp4", 38, 38, 1280, 720, "6d809d2bc58d837b"),
    ("project_video_cut.mp4", 76, 76, 1280, 720, "cc9ce686d613573a"),
    ("test_small1.mp4", 91, 88, 1280, 720, "88fc0c208d891762"),  # damaged tail: 3 frames short
]


def _expected(case: Path) -> str:
    return (case / "EXPECTED.txt").read_text()


def test_r01_rotation_metadata_is_applied(cases_dir: Path) -> None:
    expected = _expected(cases_dir / "R01")
    assert "ORIENTATION_META=270" in expected and "320 tall x 180 wide" in expected

    info = probe_source(cases_dir / "R01" / "portrait_rot90_18fps_100f.mp4")

    assert info.rotation == 270
    assert (info.height, info.width) == (320, 180)
    assert info.header_frames == 100
    assert info.decodable_frames == 100
    assert info.fps == pytest.approx(18.0)
    assert info.duration_s == pytest.approx(100 / 18, abs=1e-3)
    assert info.variable_frame_rate is False


def test_r02_header_promises_more_than_decodes(cases_dir: Path) -> None:
    expected = _expected(cases_dir / "R02")
    assert "CAP_PROP_FRAME_COUNT=100" in expected and "only 46 frames decode" in expected

    info = probe_source(cases_dir / "R02" / "truncated_header100.mp4")

    assert info.header_frames == 100
    assert info.decodable_frames == 46
    assert info.fps == pytest.approx(10.0)
    assert info.duration_s == pytest.approx(4.6, abs=1e-3)


@pytest.mark.parametrize(("name", "header", "decodable", "width", "height", "key"), REAL_CLIPS)
def test_real_clips_count_what_decodes(
    data_dir: Path, name: str, header: int, decodable: int, width: int, height: int, key: str
) -> None:
    info = probe_source(data_dir / "videos" / name)

    assert (info.header_frames, info.decodable_frames) == (header, decodable)
    assert (info.width, info.height, info.rotation) == (width, height, 0)
    assert info.fps == pytest.approx(25.0)
    assert info.duration_s == pytest.approx(decodable / 25.0, abs=1e-3)
    assert info.sha256.startswith(key)
    assert info.kind == "video"


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_rotation_matches_ffmpeg_autorotation(tmp_path: Path, rotation: int) -> None:
    clip = make_clip(tmp_path / f"rot{rotation}.mp4", count=6, rotation_cw=rotation)
    # ffmpeg's own player logic turns the first frame upright: the oracle for width and height.
    reference = tmp_path / "ffmpeg_first.png"
    run_ffmpeg("-i", str(clip), "-frames:v", "1", str(reference))
    ref_height, ref_width = cv2.imread(str(reference)).shape[:2]

    info = probe_source(clip)

    assert info.rotation == rotation
    assert (info.width, info.height) == (ref_width, ref_height) == (320, 180)


def test_variable_frame_rate_is_measured_from_timestamps(tmp_path: Path) -> None:
    times_s = vfr_times()
    clip = make_vfr_clip(tmp_path / "vfr.mp4")

    info = probe_source(clip)

    assert info.variable_frame_rate is True
    assert info.decodable_frames == len(times_s)
    span = times_s[-1] - times_s[0]
    assert info.fps == pytest.approx((len(times_s) - 1) / span, rel=1e-3)
    np.testing.assert_allclose(frame_timestamps(clip), np.asarray(times_s) * 1000, atol=0.5)


@pytest.mark.parametrize("share", [0.5, 0.8, 0.97])
def test_truncated_faststart_mp4_decodes_what_exists(tmp_path: Path, share: float) -> None:
    whole = make_clip(
        tmp_path / "whole.mp4", count=120, noise=20, extra=("-movflags", "+faststart", "-g", "10")
    )
    cut = tmp_path / f"cut{share}.mp4"
    data = whole.read_bytes()
    cut.write_bytes(data[: int(len(data) * share)])

    info = probe_source(cut)

    assert info.header_frames == 120
    assert 0 < info.decodable_frames < 120
    # Roughly proportional to what is left (the index sits at the front).
    assert info.decodable_frames <= int(120 * share) + 10


@pytest.mark.parametrize("damage", ["cut_middle", "zeros_middle"])
def test_damaged_transport_stream_decodes_around_the_damage(tmp_path: Path, damage: str) -> None:
    clip = make_clip(tmp_path / "drive.ts", count=120, noise=20, extra=("-g", "10"))
    data = bytearray(clip.read_bytes())
    middle = len(data) // 2
    if damage == "cut_middle":
        data = data[:middle]
    else:
        data[middle : middle + 8192] = bytes(8192)
    damaged = tmp_path / f"{damage}.ts"
    damaged.write_bytes(bytes(data))

    info = probe_source(damaged)

    assert 20 < info.decodable_frames < 120
    if damage == "zeros_middle":
        assert info.decodable_frames > 80  # frames after the damage still decode


def _unreadable_inputs(tmp_path: Path) -> dict[str, Path]:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("this is a text file, not a video\n")
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    audio = make_audio_only(tmp_path / "audio_only.mp4")
    fake_still = tmp_path / "photo.jpg"
    fake_still.write_text("not an image")
    no_index = make_clip(tmp_path / "no_faststart.mp4", count=60, noise=20)
    cut_no_index = tmp_path / "cut_no_index.mp4"
    cut_no_index.write_bytes(no_index.read_bytes()[: no_index.stat().st_size // 2])
    return {
        "empty": empty,
        "text": text,
        "noise": noise,
        "audio": audio,
        "fake_still": fake_still,
        "missing": tmp_path / "missing.mp4",
        "cut_before_index": cut_no_index,
    }


@pytest.mark.parametrize(
    ("kind", "says"),
    [
        ("empty", "empty file"),
        ("text", "not a video container"),
        ("noise", "not a video container"),
        ("audio", "no video stream"),
        ("fake_still", "not a readable image"),
        ("missing", "no such file"),
        ("cut_before_index", "not a video container"),
    ],
)
def test_unreadable_sources_raise_one_line_naming_file_and_fix(
    tmp_path: Path, kind: str, says: str
) -> None:
    path = _unreadable_inputs(tmp_path)[kind]

    with pytest.raises(UnreadableSourceError) as raised:
        probe_source(path)

    message = str(raised.value)
    assert message.startswith(f"{path}: ")
    assert says in message
    assert "; " in message and "\n" not in message
    assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize(("orientation", "rotation"), [(1, 0), (3, 180), (6, 90), (8, 270)])
def test_still_image_is_turned_upright_by_exif(
    tmp_path: Path, orientation: int, rotation: int
) -> None:
    path = exif_still(tmp_path / "still.jpg", orientation)

    info = probe_source(path)

    assert info.kind == "image"
    assert (info.decodable_frames, info.header_frames, info.fps) == (1, 1, 0.0)
    assert info.rotation == rotation
    assert (info.width, info.height) == (320, 180)
    assert info.sha256 == sha256_file(path)


def test_camera_comes_from_container_tags(tmp_path: Path) -> None:
    plain = make_clip(tmp_path / "plain.mp4", count=3)
    tags = ("-metadata", "make=AcmeCam", "-metadata", "model=DC-200")
    tagged = remux(plain, tmp_path / "tagged.mp4", "-movflags", "use_metadata_tags", *tags)

    info = probe_source(tagged)

    assert (info.camera_make, info.camera_model) == ("AcmeCam", "DC-200")


def test_camera_sidecar_wins_over_tags_and_a_bad_one_is_named(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "drive.mp4", count=3)
    assert (probe_source(clip).camera_make, probe_source(clip).camera_model) == (None, None)

    (tmp_path / "drive.json").write_text(
        json.dumps({"camera_make": "Garmin", "camera_model": "Dash Cam 67W"})
    )
    info = probe_source(clip)
    assert (info.camera_make, info.camera_model) == ("Garmin", "Dash Cam 67W")

    (tmp_path / "drive.json").write_text("{not json")
    with pytest.raises(SidecarError, match="drive.json: not valid JSON"):
        probe_source(clip)


def test_to_dict_is_json_ready(cases_dir: Path) -> None:
    info = probe_source(cases_dir / "R02" / "truncated_header100.mp4")

    value = json.loads(json.dumps(info.to_dict()))

    assert set(value) == {field for field in SourceInfo.__dataclass_fields__}
    assert value["decodable_frames"] == 46
