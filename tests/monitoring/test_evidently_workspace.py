"""The Evidently UI workspace option: snapshots added once, served on 127.0.0.1 offline."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from roadmark_pipeline.monitoring.drift import drift_report
from roadmark_pipeline.monitoring.workspace import PROJECT_NAME, add_to_workspace, ui_command


@pytest.fixture(scope="module")
def report(tmp_path_factory, clip_metrics: pd.DataFrame, shifted_metrics: pd.DataFrame):
    current = pd.concat([clip_metrics.iloc[1::2], shifted_metrics], ignore_index=True)
    out = tmp_path_factory.mktemp("drift")
    return drift_report(clip_metrics.iloc[::2], current, out_dir=out, day="2025-03-14")


def test_snapshots_are_added_once_per_day_and_segment(report, tmp_path: Path) -> None:
    first = add_to_workspace(tmp_path / "ws", report)
    again = add_to_workspace(tmp_path / "ws", report)

    assert first == [
        "drift 2025-03-14 overall",
        "drift 2025-03-14 other-cam",
        "drift 2025-03-14 shipped",
    ]
    assert again == []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - 127.0.0.1 only
        return json.loads(response.read())


@pytest.mark.integration
def test_ui_serves_the_workspace_on_localhost(report, tmp_path: Path) -> None:
    add_to_workspace(tmp_path / "ws", report)
    port = free_port()
    argv, env = ui_command(tmp_path / "ws", port)
    assert env["DO_NOT_TRACK"] == "1" and "127.0.0.1" in argv
    server = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(60):
            try:
                get_json(f"{base}/api/version")
                break
            except OSError:
                time.sleep(0.5)
        projects = get_json(f"{base}/api/projects")
        project = next(p for p in projects if p["name"] == PROJECT_NAME)
        snapshots = get_json(f"{base}/api/projects/{project['id']}/snapshots")
        with urllib.request.urlopen(base + "/", timeout=5) as response:  # noqa: S310
            page = response.read().decode()
    finally:
        server.terminate()
        server.wait(timeout=30)

    assert len(snapshots) == 3
    assert "<html" in page.lower()
