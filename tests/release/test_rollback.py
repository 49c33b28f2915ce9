"""Rollback after N failed starts: a release that cannot start is left by itself, marked bad
and never installed again; a source that fails does not count against the release."""

from __future__ import annotations

from pathlib import Path

import pytest

from jetson_runtime.slots import DeviceLayout, read_state

pytestmark = pytest.mark.integration


def test_three_failed_starts_roll_back_to_previous(
    make_release, repository, server, edge, device: Path, data_dir: Path
) -> None:
    update = ["update", "--repo", server.url, "--device-dir", str(device)]
    repository.publish(make_release("1.0.0"), "stable")
    assert edge(*update, "--trusted-root", str(repository.trusted_root_path)).returncode == 0
    repository.publish(make_release("1.1.0", scale=1.05), "stable")
    assert edge(*update).returncode == 0
    layout = DeviceLayout(device)

    # Bit rot in the running release's model: every start now fails verification.
    model = layout.current() / "bundle" / "model.onnx"
    model.write_bytes(model.read_bytes()[:-1] + b"\x00")
    clip = str(data_dir / "videos" / "test_video.mp4")
    run = ["run", "--device-dir", str(device), "--source", clip, "--max-frames", "2",
           "--no-evidence"]  # fmt: skip
    for attempt in (1, 2, 3):
        failed = edge(*run)
        assert failed.returncode == 4 and "sha256 differs" in failed.stderr
        assert read_state(layout)["failed_starts"] == attempt

    recovered = edge(*run)
    assert recovered.returncode == 0, recovered.stderr
    assert "rolled back from 1.1.0 to 1.0.0" in recovered.stderr
    assert recovered.out["release"] == "1.0.0"
    state = read_state(layout)
    assert state["bad_versions"] == ["1.1.0"] and state["failed_starts"] == 0

    again = edge(*update)
    assert again.returncode == 3 and again.out["reason"] == "bad_version"
    assert layout.current_version() == "1.0.0"


def test_a_missing_source_does_not_count_as_a_failed_start(
    make_release, repository, server, edge, device: Path
) -> None:
    repository.publish(make_release("1.0.0"), "stable")
    update = ["update", "--repo", server.url, "--device-dir", str(device),
              "--trusted-root", str(repository.trusted_root_path)]  # fmt: skip
    assert edge(*update).returncode == 0
    for _ in range(4):
        missing = edge("run", "--device-dir", str(device), "--source", "/nonexistent.mp4")
        assert missing.returncode == 5 and "no such file" in missing.stderr
    assert read_state(DeviceLayout(device))["failed_starts"] == 0
    assert DeviceLayout(device).current_version() == "1.0.0"
