"""``roadmark-edge run`` and ``status`` on a real device: an operator's bad input is one line, is
checked before the start is counted (or taken off the count) and never rolls a healthy release
back; a damaged state.json is refused, never reset; a status only looks."""

from __future__ import annotations

from pathlib import Path

import pytest

from jetson_runtime.session import provider_problem
from jetson_runtime.slots import DeviceLayout, read_state, update_state

pytestmark = pytest.mark.integration


@pytest.fixture
def two_releases(make_release, repository, server, edge, device: Path) -> Path:
    """A device running 1.1.0 with 1.0.0 as previous: a rollback would have somewhere to go."""
    update = ["update", "--repo", server.url, "--device-dir", str(device)]
    repository.publish(make_release("1.0.0"), "stable")
    assert edge(*update, "--trusted-root", str(repository.trusted_root_path)).returncode == 0
    repository.publish(make_release("1.1.0", scale=1.05), "stable")
    assert edge(*update).returncode == 0
    return device


def _bad_inputs(tmp_path: Path, clip: str) -> list[tuple[list[str], int, str]]:
    """(options, exit code, words of the error) for each kind of operator mistake."""
    text = tmp_path / "text.mp4"
    text.write_text("not a video")
    image = tmp_path / "bad.jpg"  # OpenCV "opens" it: no frame decodes
    image.write_text("not an image")
    truncated = tmp_path / "trunc.mp4"  # `head -c 100000 test_video.mp4`: opens, no frame
    truncated.write_bytes(Path(clip).read_bytes()[:100_000])
    inbox_file = tmp_path / "inbox.txt"
    inbox_file.write_text("a file, not a folder")
    track = tmp_path / "track.csv"
    track.write_text("time,latitude\n1,2\n")
    cases = [
        (["--source", clip, "--gps", str(tmp_path / "missing.csv")], 2, "--gps"),
        (["--source", clip, "--gps", str(track)], 2, "not a t_ms,lat,lon CSV"),
        (["--source", clip, "--every-n", "0"], 2, "--every-n 0: must be 1"),
        (["--source", clip, "--max-frames", "0"], 2, "--max-frames 0"),
        (["--source", clip, "--storage-share", "2"], 2, "--storage-share 2.0"),
        (["--source", clip, "--device-id", "a/b"], 2, "--device-id 'a/b'"),
        (["--source", clip, "--inbox", "nosuchscheme://x"], 2, "--inbox nosuchscheme://x"),
        (["--source", clip, "--every-n", "two"], 2, "argument --every-n: invalid int value"),
        (["--source", str(tmp_path / "missing.mp4")], 5, "no such file"),
        (["--source", str(text)], 5, "cannot open the file source"),
        (["--source", str(image)], 5, f"{image}: the file source opens but yields no frame"),
        (["--source", str(truncated)], 5, f"{truncated}: the file source opens but yields no"),
        (["--source", str(tmp_path)], 5, f"{tmp_path}: a folder, not a video file"),
        (["--source", clip, "--inbox", str(inbox_file)], 2, f"--inbox {inbox_file}: is a file"),
        (["--source", clip, "--inbox", "/proc/x"], 2, "--inbox /proc/x: cannot be created"),
        (["--source", clip, "--bogus"], 2, "unknown option --bogus"),
    ]
    if provider_problem("tensorrt") is not None:  # on a host with TensorRT this is no mistake
        cases.append((["--source", clip, "--provider", "tensorrt"], 2, "cannot run here"))
    return cases


def test_bad_input_never_counts_as_a_failed_start(
    two_releases: Path, edge, tmp_path: Path, data_dir: Path
) -> None:
    device, layout = two_releases, DeviceLayout(two_releases)
    clip = str(data_dir / "videos" / "test_video.mp4")
    run = ["run", "--device-dir", str(device), "--no-evidence", "--max-failed-starts", "1"]

    # With --max-failed-starts 1, a single counted start would roll back at the next one.
    for _ in range(2):
        for options, code, words in _bad_inputs(tmp_path, clip):
            done = edge(*run, *options)
            assert read_state(layout).get("failed_starts", 0) == 0, (options, done.stderr)
            assert layout.current_version() == "1.1.0", options
            assert done.returncode == code, (options, done.stderr)
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1 and words in lines[0], (options, done.stderr)
            assert "Traceback" not in done.stderr
            assert "provider chosen" not in done.stderr  # refused before the model loads

    state = read_state(layout)
    assert state.get("bad_versions", []) == [] and layout.current_version() == "1.1.0"
    assert "inbox" not in state and "device_id" not in state  # nothing refused was remembered
    assert not list((device / "spool").glob("pending/*"))
    good = edge(*run, "--source", clip, "--max-frames", "2", "--provider", "cpu")
    assert good.returncode == 0, good.stderr
    assert good.out["release"] == "1.1.0" and good.out["provider"] == "cpu"


def test_status_only_looks(two_releases: Path, edge) -> None:
    def snapshot() -> dict[str, tuple[int, int]]:
        return {
            str(p.relative_to(two_releases)): (p.lstat().st_size, p.lstat().st_mtime_ns)
            for p in two_releases.rglob("*")
        }

    before = snapshot()
    for extra in ([], ["--json"]):
        done = edge("status", "--device-dir", str(two_releases), *extra)
        assert done.returncode == 0, done.stderr
    assert snapshot() == before


def test_a_live_source_failing_in_the_release_is_taken_off_the_count(
    two_releases: Path, edge, data_dir: Path
) -> None:
    # A camera is opened by the release's runtime, after the launcher counted the start.
    device, layout = two_releases, DeviceLayout(two_releases)
    run = ["run", "--device-dir", str(device), "--no-evidence", "--max-failed-starts", "1"]
    for _ in range(3):
        done = edge(*run, "--source", "/dev/video97")
        assert done.returncode == 5 and "/dev/video97: cannot open the v4l2 source" in done.stderr
        assert "Traceback" not in done.stderr
        assert read_state(layout)["failed_starts"] == 0
    assert layout.current_version() == "1.1.0"
    assert read_state(layout).get("bad_versions", []) == []

    # A failed start of the release itself still counts; a run that processes frames clears it.
    update_state(layout, failed_starts=1)
    clip = str(data_dir / "videos" / "test_video.mp4")
    good = edge(*run[:-2], "--source", clip, "--max-frames", "2", "--provider", "cpu")
    assert good.returncode == 0, good.stderr
    assert good.out["frames"] == 2 and good.out["release"] == "1.1.0"
    assert read_state(layout)["failed_starts"] == 0


def test_a_damaged_state_is_refused_and_never_overwritten(
    two_releases: Path, edge, data_dir: Path, server
) -> None:
    device, layout = two_releases, DeviceLayout(two_releases)
    update_state(layout, bad_versions=["0.9.0"], failed_starts=2)
    state = device / "state.json"
    state.write_text("{garbage")
    clip = str(data_dir / "videos" / "test_video.mp4")
    commands = [
        ["run", "--device-dir", str(device), "--source", clip, "--max-frames", "1"],
        ["status", "--device-dir", str(device), "--json"],
        ["update", "--repo", server.url, "--device-dir", str(device)],
    ]
    for command in commands:
        done = edge(*command)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 4, (command, done.stderr)
        assert len(lines) == 1 and f"{state}: damaged (not JSON" in lines[0], done.stderr
        assert "re-provision with 'roadmark-edge update" in lines[0]
        assert state.read_text() == "{garbage" and layout.current_version() == "1.1.0"
    assert not list(device.glob(".state.json.*"))  # no temp file left either
