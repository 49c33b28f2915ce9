"""Power cuts during an update: the updater is killed (SIGKILL) at each of its steps, and the
device always keeps a release that verifies and runs; the next update completes the job."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from jetson_runtime.bundle import load_bundle
from jetson_runtime.ota import CRASH_ENV, STEPS
from jetson_runtime.slots import DeviceLayout

pytestmark = pytest.mark.integration


@pytest.fixture
def two_releases(make_release, repository, server, edge, device):
    """A device running 1.0.0 while the repository offers 1.1.0."""
    repository.publish(make_release("1.0.0"), "stable")
    first = edge(
        "update", "--repo", server.url, "--device-dir", str(device),
        "--trusted-root", str(repository.trusted_root_path),
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    repository.publish(make_release("1.1.0", scale=1.05), "stable")
    return device


def _runs(edge, device: Path, clip: Path) -> None:
    ran = edge("run", "--device-dir", str(device), "--source", str(clip), "--max-frames", "3",
               "--no-evidence")  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert ran.out["frames"] == 3


@pytest.mark.parametrize("step", STEPS)
def test_killed_at_each_step_keeps_a_runnable_release(
    step: str, two_releases: Path, server, edge, data_dir: Path
) -> None:
    device = two_releases
    layout = DeviceLayout(device)
    args = ["update", "--repo", server.url, "--device-dir", str(device)]

    crashed = edge(*args, env={CRASH_ENV: step})
    assert crashed.returncode == -signal.SIGKILL

    # Before the final rename the old release is current; from it on, the new one.
    expected = "1.1.0" if step == "switched" else "1.0.0"
    assert layout.current_version() == expected
    load_bundle(layout.current() / "bundle")
    _runs(edge, device, data_dir / "videos" / "test_video.mp4")

    resumed = edge(*args)
    assert resumed.returncode == 0, resumed.stderr
    assert layout.current_version() == "1.1.0"
    assert layout.previous_version() == "1.0.0"
    assert not any(layout.staging.iterdir())
    _runs(edge, device, data_dir / "videos" / "test_video.mp4")


def test_killed_during_the_first_install_leaves_no_half_release(
    make_release, repository, server, edge, device
) -> None:
    repository.publish(make_release("1.0.0"), "stable")
    args = ["update", "--repo", server.url, "--device-dir", str(device),
            "--trusted-root", str(repository.trusted_root_path)]  # fmt: skip
    crashed = edge(*args, env={CRASH_ENV: "slotted"})
    assert crashed.returncode == -signal.SIGKILL
    layout = DeviceLayout(device)
    assert layout.current() is None
    refused = edge("run", "--device-dir", str(device), "--source", "x.mp4")
    assert refused.returncode == 4 and "run 'roadmark-edge update' first" in refused.stderr

    assert edge(*args).returncode == 0
    assert layout.current_version() == "1.0.0"
