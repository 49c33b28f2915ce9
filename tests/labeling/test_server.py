"""The managed Label Studio server: start, reuse, clear errors, stop by pid."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time

import httpx
import psutil
import pytest

from roadmark_pipeline.labeling.server import (
    PID_FILE,
    LabelStudioError,
    LabelStudioServer,
    connect,
    free_port,
)

from .conftest import TEST_TOKEN

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_server_answers_on_loopback_only(ls_server) -> None:
    assert ls_server.url.startswith("http://127.0.0.1:")
    assert httpx.get(f"{ls_server.url}/health").status_code == 200
    listening = {
        conn.laddr.ip
        for conn in psutil.Process(ls_server.pid).net_connections(kind="tcp")
        if conn.status == psutil.CONN_LISTEN
    }
    assert listening == {"127.0.0.1"}
    log = ls_server.log_path.read_text()
    assert "Starting" in log


def test_second_start_reuses_the_running_server(ls_server) -> None:
    again = LabelStudioServer(ls_server.data_dir, token=TEST_TOKEN)
    started = time.monotonic()
    again.start()
    assert again.pid == ls_server.pid
    assert again.url == ls_server.url
    assert again.is_running()
    assert time.monotonic() - started < 10  # no migration, no second process


def test_connect_checks_the_token(ls_server) -> None:
    client = connect(ls_server.url, TEST_TOKEN)
    assert client.users.whoami().email == ls_server.username
    with pytest.raises(LabelStudioError, match="refused the API token") as caught:
        connect(ls_server.url, "wrong-token-abcdef")
    assert ls_server.url in str(caught.value)


def test_connect_to_nothing_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(LabelStudioError, match="unreachable") as caught:
        connect(url, TEST_TOKEN, timeout_s=2)
    assert url in str(caught.value) and "\n" not in str(caught.value)


def test_busy_port_is_refused_not_silently_moved(ls_server, tmp_path) -> None:
    other = LabelStudioServer(tmp_path / "other", port=ls_server.port, token=TEST_TOKEN)
    with pytest.raises(LabelStudioError, match=f"port {ls_server.port}"):
        other.start()
    assert not (tmp_path / "other" / PID_FILE).exists()


def test_generated_token_is_kept_private(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("ROADMARK_LS_TOKEN", raising=False)
    server = LabelStudioServer(tmp_path)
    token = server._resolve_token()
    again = LabelStudioServer(tmp_path)._resolve_token()
    assert token == again and len(token) >= 20
    assert stat.S_IMODE(os.stat(tmp_path / "api_token").st_mode) == 0o600


def test_env_token_wins_over_kept_one(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ROADMARK_LS_TOKEN", "from-the-environment")
    assert LabelStudioServer(tmp_path)._resolve_token() == "from-the-environment"
    assert LabelStudioServer(tmp_path, token="from-argument")._resolve_token() == "from-argument"
    monkeypatch.setenv("ROADMARK_LS_TOKEN", "abc")
    with pytest.raises(LabelStudioError, match="at least 6"):
        LabelStudioServer(tmp_path)._resolve_token()


def test_non_loopback_host_is_refused(tmp_path) -> None:
    with pytest.raises(LabelStudioError, match="loopback"):
        LabelStudioServer(tmp_path, host="0.0.0.0")


def test_stop_escalates_to_sigkill_by_pid(tmp_path, caplog) -> None:
    # a stand-in process named label-studio that ignores SIGTERM, recorded in the pid file
    script = tmp_path / "label-studio"
    script.write_text(
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\ntime.sleep(120)\n"
    )
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE)
    try:
        assert process.stdout.readline().strip() == b"ready"
        (tmp_path / PID_FILE).write_text(f'{{"pid": {process.pid}, "url": "http://127.0.0.1:1"}}')
        server = LabelStudioServer(tmp_path)
        started = time.monotonic()
        server.stop(timeout_s=1)
        process.wait(timeout=5)  # psutil already reaped it; this only confirms it is gone
        assert not psutil.pid_exists(process.pid)
        assert time.monotonic() - started < 5
        assert "ignored SIGTERM" in caplog.text
        assert not (tmp_path / PID_FILE).exists()
    finally:
        if process.poll() is None:
            process.kill()


def test_stale_pid_file_is_not_trusted(tmp_path) -> None:
    # a pid that is not a label-studio process (this test runner) must never be signalled
    (tmp_path / PID_FILE).write_text(f'{{"pid": {os.getpid()}, "url": "http://127.0.0.1:1"}}')
    server = LabelStudioServer(tmp_path)
    assert not server.is_running()
    server.stop()
    assert not (tmp_path / PID_FILE).exists()
