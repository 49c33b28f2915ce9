"""``roadmark probe`` / ``roadmark sample`` as a script calls them: real processes, real files."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
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


@pytest.mark.parametrize(
    "kind", ["empty", "text", "audio", "missing", "folder", "device", "long_name", "junk_still"]
)
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


REAL_VIDEO = Path(__file__).resolve().parents[2] / "data" / "videos" / "test_video.mp4"


@pytest.mark.parametrize("cut", [30_000, 100_000])
@pytest.mark.parametrize("command", ["probe", "sample"])
def test_a_truncated_clip_is_refused_in_exactly_one_line(
    tmp_path: Path, cut: int, command: str
) -> None:
    """A clip cut short after its index: no frame decodes, and only the refusal is printed."""
    path = tmp_path / "trunc.mp4"
    path.write_bytes(REAL_VIDEO.read_bytes()[:cut])
    extra = [tmp_path / "out", "--every-n", "10"] if command == "sample" else []

    done = _roadmark(command, path, *extra)

    assert "WARNING" not in done.stderr
    _assert_one_line_refusal(done, str(path), "not one frame decodes")
    assert not (tmp_path / "out").exists()


def test_a_partly_readable_clip_still_warns_about_the_damage(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The damage warning stays for a read that succeeds: here one packet is zeroed."""
    from roadmark_pipeline.video.probe import probe_source

    content = bytearray(REAL_VIDEO.read_bytes())
    content[200_000:210_000] = bytes(10_000)
    path = tmp_path / "damaged.mp4"
    path.write_bytes(bytes(content))

    with caplog.at_level("WARNING", logger="roadmark_pipeline.video.decode"):
        info = probe_source(path)

    assert 0 < info.decodable_frames < info.header_frames
    assert "did not decode and were skipped" in caplog.text


def test_sample_needs_exactly_one_rule(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "drive.mp4", count=3)

    neither = _roadmark("sample", clip, tmp_path / "out")
    both = _roadmark("sample", clip, tmp_path / "out", "--every-n", "2", "--every-seconds", "1")

    assert neither.returncode == 2 and "one of the arguments" in neither.stderr
    assert both.returncode == 2 and "not allowed with" in both.stderr
    assert not (tmp_path / "out").exists()


def _bad_file(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.mp4"
    if kind == "folder":
        path.mkdir()
    elif kind == "device":
        path = Path("/dev/null")
    elif kind == "long_name":
        path = tmp_path / ("y" * 300 + ".mp4")
    elif kind == "junk_still":
        path = tmp_path / "photo.jpg"
        path.write_text("not an image")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("plain text, named like a video\n")
    elif kind == "audio":
        make_audio_only(path)
    return path


def _assert_one_line_refusal(done: subprocess.CompletedProcess[str], *names: str) -> str:
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    for name in names:
        assert name in lines[0]
    return lines[0]


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes() if path.is_file() else b"<dir>"
        for path in sorted(folder.rglob("*"))
    }


def test_sample_refuses_a_folder_with_other_files(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", count=20)
    project = tmp_path / "myproject"
    (project / "src").mkdir(parents=True)
    (project / "src" / "notes.txt").write_text("my notes")
    (project / "README").write_text("read me")
    # a manifest alone does not make a sample output: README is still someone's file
    (project / "manifest.parquet").write_bytes(b"PAR1")
    before = _tree(tmp_path)

    done = _roadmark("sample", clip, project, "--every-n", "5")

    line = _assert_one_line_refusal(done, str(project), "README", "new or empty folder")
    assert "would delete" in line
    assert _tree(tmp_path) == before


def test_a_foreign_file_among_the_originals_is_named_in_the_refusal(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", count=20)
    out = tmp_path / "frames"
    first = _roadmark("sample", clip, out, "--every-n", "5", "--keep-originals")
    assert first.returncode == 0, first.stderr
    (out / "originals" / "zzz.txt").write_text("someone's notes")
    before = _tree(tmp_path)

    done = _roadmark("sample", clip, out, "--every-n", "5")

    line = _assert_one_line_refusal(done, str(out), "originals/zzz.txt", "would delete")
    assert "000000.jpg" not in line  # the frames are ours to replace; only the stranger is named
    assert _tree(tmp_path) == before


@pytest.mark.parametrize("position", ["video", "out_dir"])
def test_an_empty_argument_is_refused_not_read_as_the_current_folder(
    tmp_path: Path, position: str
) -> None:
    clip = make_clip(tmp_path / "clip.mp4", count=20)
    args = ["", str(tmp_path / "out")] if position == "video" else [str(clip), ""]
    before = _tree(tmp_path)

    done = _roadmark("sample", *args, "--every-n", "5")

    _assert_one_line_refusal(done, "roadmark sample", "argument is empty")
    assert _tree(tmp_path) == before


@pytest.mark.parametrize("where", ["file", "below_a_file"])
def test_sample_refuses_a_file_as_out_dir(tmp_path: Path, where: str) -> None:
    clip = make_clip(tmp_path / "clip.mp4", count=20)
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    out = afile if where == "file" else afile / "frames"
    before = _tree(tmp_path)

    done = _roadmark("sample", clip, out, "--every-n", "5")

    _assert_one_line_refusal(done, str(out), "is a file")
    assert _tree(tmp_path) == before  # no folder in its place, no .afile.old-XXXX left behind


def test_sample_replaces_a_previous_output_and_fills_an_empty_folder(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", count=20)
    out = tmp_path / "frames"
    out.mkdir()

    first = _roadmark("sample", clip, out, "--every-n", "5", "--keep-originals")
    again = _roadmark("sample", clip, out, "--every-n", "10")

    assert first.returncode == 0, first.stderr
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in out.iterdir()) == ["000000.jpg", "000010.jpg", "manifest.parquet"]
    assert pd.read_parquet(out / "manifest.parquet")["frame_index"].tolist() == [0, 10]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "frames"]


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--every-seconds", "inf", "not a finite number"),
        ("--every-seconds", "-inf", "not a finite number"),
        ("--every-seconds", "nan", "not a finite number"),
        ("--every-seconds", "0", "must be > 0"),
        ("--every-seconds", "soon", "is not a number"),
        ("--every-n", "abc", "is not a whole number"),
        ("--every-n", "2.5", "is not a whole number"),
        ("--every-n", "0", "whole number >= 1"),
        ("--jpeg-quality", "0", "within 1-100"),
        ("--jpeg-quality", "high", "within 1-100"),
    ],
)
def test_bad_option_values_name_the_option_in_one_line(
    tmp_path: Path, option: str, value: str, says: str
) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"never read: the options are checked first")
    rule = [] if option != "--jpeg-quality" else ["--every-n", "5"]

    done = _roadmark("sample", clip, tmp_path / "out", f"{option}={value}", *rule)

    line = _assert_one_line_refusal(done, option, says)
    assert "_positive" not in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("place", ["proc", "long_name"])
def test_sample_into_an_impossible_folder_is_one_line(tmp_path: Path, place: str) -> None:
    clip = make_clip(tmp_path / "clip.mp4", count=10)
    if place == "proc" and not Path("/proc/self").is_dir():
        pytest.skip("no /proc on this system")
    out = Path("/proc/roadmark-nope") if place == "proc" else tmp_path / ("x" * 300) / "frames"

    done = _roadmark("sample", clip, out, "--every-n", "5")

    _assert_one_line_refusal(done, str(out), "cannot write the frames there")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_failed_sample_removes_the_folders_it_made(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", count=10)
    track = tmp_path / "clip.gpx"
    track.write_text("<gpx><trkpt lat='1' lon='2'>")  # read only once the frames are staged
    out = tmp_path / "new" / "deep" / "frames"

    done = _roadmark("sample", clip, out, "--every-n", "5")

    _assert_one_line_refusal(done, str(track))
    assert not (tmp_path / "new").exists()


def test_library_sample_source_refuses_a_file(tmp_path: Path) -> None:
    from roadmark_pipeline.video.sampling import SamplingPolicy, sample_source

    clip = make_clip(tmp_path / "clip.mp4", count=10)
    afile = tmp_path / "afile"
    afile.write_text("keep me")

    with pytest.raises(ValueError, match="is a file, not a folder"):
        sample_source(clip, afile, SamplingPolicy(every_n=5))

    assert afile.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "clip.mp4"]


def test_a_symlinked_out_dir_is_sampled_at_its_target(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", count=20)
    real, link = tmp_path / "real", tmp_path / "link"
    assert _roadmark("sample", clip, real, "--every-n", "10").returncode == 0
    link.symlink_to(real, target_is_directory=True)

    done = _roadmark("sample", clip, link, "--every-n", "5")

    assert done.returncode == 0, done.stderr
    assert link.is_symlink() and link.resolve() == real.resolve()
    assert pd.read_parquet(real / "manifest.parquet")["frame_index"].tolist() == [0, 5, 10, 15]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "link", "real"]


def _sample_until_frames_are_staged(parent: Path) -> subprocess.Popen[str]:
    """Start a long ``roadmark sample`` into PARENT/out3 and wait until its stage holds frames."""
    script = Path(sys.executable).with_name("roadmark")
    clip = REAL_VIDEO.with_name("solidWhiteRight.mp4")
    command = [str(script), "sample", str(clip), str(parent / "out3"), "--every-n", "1"]
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not any(parent.glob(".out3.*/*.jpg")):
        assert run.poll() is None and time.monotonic() < deadline, "no frame was staged"
        time.sleep(0.05)
    return run


def test_sigterm_ends_sample_with_nothing_half_written(tmp_path: Path) -> None:
    parent = tmp_path / "OUT" / "new"  # folders sample makes on the way go again
    run = _sample_until_frames_are_staged(parent)

    run.send_signal(signal.SIGTERM)
    _, stderr = run.communicate(timeout=60)

    assert run.returncode == 143, stderr
    assert "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == []  # no stage, and OUT/ (made by sample) is gone


def test_the_stage_of_a_killed_sample_is_removed_by_the_next_run(tmp_path: Path) -> None:
    run = _sample_until_frames_are_staged(tmp_path)
    run.kill()  # SIGKILL: nothing of ours runs
    run.communicate(timeout=60)
    assert [p.name[:12] for p in tmp_path.iterdir()] == [".out3.stage-"]

    done = _roadmark("sample", REAL_VIDEO, tmp_path / "out3", "--every-n", "10")

    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out3"]
