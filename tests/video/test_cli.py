"""``roadmark probe`` / ``roadmark sample`` as a script calls them: real processes, real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import pandas as pd
import pytest

from roadmark_pipeline.video.sampling import MANIFEST_COLUMNS
from tests.video.clips import make_audio_only, make_clip, marker_corner, read_index


def _roadmark(*args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("roadmark")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "roadmark_pipeline.cli"]
    return subprocess.run([*command, *map(str, args)], capture_output=True, text=True, timeout=120)


def test_probe_prints_one_json_object(cases_dir: Path) -> None:
    done = _roadmark("probe", cases_dir / "R02" / "truncated_header100.mp4")

    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    value = json.loads(lines[0])
    assert value["decodable_frames"] == 46
    assert value["header_frames"] == 100
    assert value["fps"] == pytest.approx(10.0)
    assert (value["width"], value["height"], value["rotation"]) == (320, 180, 0)
    assert value["duration_s"] == pytest.approx(4.6)


def test_probe_reports_upright_size_of_r01(cases_dir: Path) -> None:
    done = _roadmark("probe", cases_dir / "R01" / "portrait_rot90_18fps_100f.mp4")

    value = json.loads(done.stdout)
    assert (value["width"], value["height"], value["rotation"]) == (180, 320, 270)


def test_sample_writes_frames_and_manifest(cases_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "frames"

    done = _roadmark(
        "sample", cases_dir / "R01" / "portrait_rot90_18fps_100f.mp4", out, "--every-n", "25"
    )

    assert done.returncode == 0, done.stderr
    manifest = pd.read_parquet(out / "manifest.parquet")
    assert tuple(manifest.columns) == MANIFEST_COLUMNS
    assert manifest["frame_index"].tolist() == [0, 25, 50, 75]
    assert manifest["timestamp_ms"].tolist() == [round(i * 1000 / 18) for i in (0, 25, 50, 75)]
    for row in manifest.itertuples():
        image = cv2.imread(row.path)
        assert image.shape[:2] == (320, 180)
        assert marker_corner(image) == "top-left" and read_index(image) == row.frame_index


def test_sample_every_seconds_with_options(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "drive.mp4", count=30, fps=10)
    out = tmp_path / "frames"

    done = _roadmark(
        "sample",
        clip,
        out,
        "--every-seconds",
        "1.0",
        "--no-anonymise",
        "--keep-originals",
        "--skip-static",
    )

    assert done.returncode == 0, done.stderr
    manifest = pd.read_parquet(out / "manifest.parquet")
    assert manifest["frame_index"].tolist() == [0, 10, 20]
    assert not manifest["anonymised"].any()
    assert (out / "originals" / "000010.jpg").is_file()
    assert manifest["rule"].iloc[0] == "every_seconds=1;skip_static<=3"


@pytest.mark.parametrize("kind", ["empty", "text", "audio", "missing"])
@pytest.mark.parametrize("command", ["probe", "sample"])
def test_bad_files_fail_with_one_line_and_leave_nothing(
    tmp_path: Path, kind: str, command: str
) -> None:
    path = _bad_file(tmp_path, kind)
    out = tmp_path / "out" / "frames"
    extra = [out, "--every-n", "5"] if command == "sample" else []

    done = _roadmark(command, path, *extra)

    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert str(path) in lines[0]
    assert not (tmp_path / "out").exists()


def test_sample_needs_exactly_one_rule(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "drive.mp4", count=3)

    neither = _roadmark("sample", clip, tmp_path / "out")
    both = _roadmark("sample", clip, tmp_path / "out", "--every-n", "2", "--every-seconds", "1")

    assert neither.returncode == 2 and "one of the arguments" in neither.stderr
    assert both.returncode == 2 and "not allowed with" in both.stderr
    assert not (tmp_path / "out").exists()


def _bad_file(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.mp4"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("plain text, named like a video\n")
    elif kind == "audio":
        make_audio_only(path)
    return path
