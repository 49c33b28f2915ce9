"""The lead's demo, end to end: build, publish to stable, serve over HTTP on 127.0.0.1, update
the device, run it on a real clip into a fleet inbox folder, read the status."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from jetson_runtime.bundle import load_bundle
from jetson_runtime.slots import DeviceLayout
from jetson_runtime.telemetry import telemetry_columns
from roadmark_pipeline.taxonomy import class_names


@pytest.mark.integration
def test_build_publish_update_run_status(
    make_release, repository, server, edge, device: Path, tmp_path: Path, data_dir: Path
) -> None:
    release = make_release("1.0.0")
    published = repository.publish(release, "stable")
    assert published["changed"] and repository.channels() == {"stable": "1.0.0"}

    updated = edge(
        "update", "--repo", server.url, "--device-dir", str(device),
        "--channel", "stable", "--trusted-root", str(repository.trusted_root_path),
    )  # fmt: skip
    assert updated.returncode == 0, updated.stderr
    assert updated.out["status"] == "updated" and updated.out["version"] == "1.0.0"
    layout = DeviceLayout(device)
    assert layout.current_version() == "1.0.0"
    assert (layout.current() / "runtime" / "jetson_runtime" / "runner.py").is_file()

    inbox = tmp_path / "fleet" / "inbox"
    clip = data_dir / "videos" / "test_video.mp4"  # 38 frames
    ran = edge(
        "run", "--device-dir", str(device), "--source", str(clip), "--every-n", "2",
        "--inbox", str(inbox), "--device-id", "dev-01", "--camera-model", "cam-x",
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert "starting the runtime of release 1.0.0" in ran.stderr
    # The code that ran is the release's own runtime, not the checkout this test runs from.
    assert ran.out["runtime"] == str((layout.current() / "runtime" / "jetson_runtime").resolve())
    assert ran.out["frames"] == 19 and ran.out["pending"] == 0 and ran.out["uploaded"] >= 1

    batches = sorted(inbox.glob("*.parquet"))
    table = pd.concat([pd.read_parquet(p) for p in batches], ignore_index=True)
    assert list(table.columns) == list(telemetry_columns(class_names()))
    assert len(table) == 19 and table["row_id"].is_unique
    assert sorted(table["frame_index"]) == list(range(0, 38, 2))
    assert set(table["device_id"]) == {"dev-01"} and set(table["camera_model"]) == {"cam-x"}
    assert str(table["ts"].dtype) == "datetime64[us, UTC]"
    assert (table["n_detections"] == table.filter(like="det_").sum(axis=1)).all()
    assert table["n_detections"].sum() == ran.out["detections"] > 0
    assert {p.stem for p in batches} == set(table["batch_id"])

    status = edge("status", "--device-dir", str(device), "--json")
    assert status.returncode == 0
    assert status.out["release"]["version"] == "1.0.0" and status.out["channel"] == "stable"
    assert status.out["provider"] == "cpu" and status.out["last_upload"] is not None
    assert 0 < status.out["storage"]["used_share"] < 0.5
    load_bundle(layout.current() / "bundle")


@pytest.mark.integration
def test_second_release_rolls_forward_and_keeps_previous(
    make_release, repository, server, edge, device: Path
) -> None:
    repository.publish(make_release("1.0.0"), "stable")
    args = ["update", "--repo", server.url, "--device-dir", str(device)]
    first = edge(*args, "--trusted-root", str(repository.trusted_root_path))
    assert first.returncode == 0, first.stderr

    again = edge(*args)
    assert again.returncode == 0 and again.out["status"] == "up_to_date"

    repository.publish(make_release("1.1.0", scale=1.05), "stable")
    second = edge(*args)
    assert second.returncode == 0, second.stderr
    assert second.out == {
        "status": "updated", "version": "1.1.0", "previous": "1.0.0", "channel": "stable"
    }  # fmt: skip
    layout = DeviceLayout(device)
    assert (layout.current_version(), layout.previous_version()) == ("1.1.0", "1.0.0")


@pytest.mark.integration
def test_canary_channel_is_separate(make_release, repository, server, edge, tmp_path) -> None:
    repository.publish(make_release("1.0.0"), "stable")
    repository.publish(make_release("1.1.0", scale=1.05), "canary")
    assert repository.channels() == {"stable": "1.0.0", "canary": "1.1.0"}
    versions = {}
    for channel in ("stable", "canary"):
        device = tmp_path / f"device-{channel}"
        done = edge(
            "update", "--repo", server.url, "--device-dir", str(device), "--channel", channel,
            "--trusted-root", str(repository.trusted_root_path),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        versions[channel] = DeviceLayout(device).current_version()
    assert versions == {"stable": "1.0.0", "canary": "1.1.0"}
