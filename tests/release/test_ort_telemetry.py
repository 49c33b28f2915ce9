"""A device run writes nothing outside its device folder: ONNX Runtime's telemetry (a device id
and an events database under ~/.cache/Microsoft/) stays off."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_a_run_leaves_home_untouched(
    make_release, repository, server, edge, device: Path, tmp_path: Path, data_dir: Path
) -> None:
    repository.publish(make_release("1.0.0"), "stable")
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")}  # where ORT writes
    updated = edge(
        "update", "--repo", server.url, "--device-dir", str(device),
        "--trusted-root", str(repository.trusted_root_path), env=env,
    )  # fmt: skip
    assert updated.returncode == 0, updated.stderr  # its health check opens a session too

    clip = str(data_dir / "videos" / "test_video.mp4")
    ran = edge(
        "run", "--device-dir", str(device), "--source", clip, "--max-frames", "3",
        "--no-evidence", env=env,
    )  # fmt: skip

    assert ran.returncode == 0, ran.stderr
    assert ran.out["frames"] == 3
    assert sorted(p.relative_to(home) for p in home.rglob("*")) == []
