"""``roadmark-edge run`` and ``status`` on a real device: an operator's bad input is one line, is
checked before the start is counted and never rolls a healthy release back; a status only
looks."""

from __future__ import annotations

from pathlib import Path

import pytest

from jetson_runtime.session import provider_problem
from jetson_runtime.slots import DeviceLayout, read_state

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
