"""The Evidently UI workspace option: snapshots added once, served on 127.0.0.1 offline."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
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


def children_of(pid: int) -> list[int]:
    """The pids whose parent is ``pid`` (read from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def port_closed(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def wait_until_serving(ui: subprocess.Popen[bytes], port: int) -> list[int]:
    """Wait until the UI answers on 127.0.0.1:``port``; return the server's pid(s)."""
    servers: list[int] = []
    for _ in range(120):
        servers = servers or children_of(ui.pid)
        try:
            get_json(f"http://127.0.0.1:{port}/api/version")
            return servers
        except OSError:
            assert ui.poll() is None, "roadmark drift-ui ended before serving"
            time.sleep(0.5)
    raise AssertionError("the Evidently UI did not start")


@pytest.mark.integration
@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 0), (signal.SIGKILL, -9)]
)
def test_stopping_drift_ui_stops_its_server(tmp_path: Path, sig: int, code: int) -> None:
    """roadmark drift-ui takes its Evidently server with it, however it is stopped."""
    (tmp_path / "ws").mkdir()
    port = free_port()
    roadmark = Path(sys.executable).with_name("roadmark")
    command = [str(roadmark), "drift-ui", str(tmp_path / "ws"), "--port", str(port)]
    log = tmp_path / "stderr.txt"
    servers: list[int] = []
    with log.open("wb") as stderr:
        ui = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        servers = wait_until_serving(ui, port)
        ui.send_signal(sig)
        ui.wait(timeout=60)
        deadline = time.monotonic() + 20
        while not all(map(gone, servers)) and time.monotonic() < deadline:
            time.sleep(0.2)
        orphans = [pid for pid in servers if not gone(pid)]
    finally:  # the test's own processes, by pid: nothing may outlive the test
        for pid in [*servers, *([ui.pid] if ui.poll() is None else [])]:
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)
        ui.wait(timeout=30)

    assert orphans == [], f"Evidently UI {orphans} still ran after roadmark drift-ui ended"
    assert port_closed(port)
    assert ui.returncode == code, log.read_text()
    assert "Traceback" not in log.read_text()
