"""What the managed Label Studio needs from the operating system: ports, pids, secrets, logs.

Kept apart from :mod:`roadmark_pipeline.labeling.server` (which re-exports the public names) so
the server class reads as its start/adopt/stop story.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import socket
from pathlib import Path

import httpx
import psutil

LOG = logging.getLogger(__name__)
PID_FILE = "labelstudio.pid.json"


def health_ok(url: str, timeout_s: float = 2.0) -> bool:
    """Return True when ``<url>/health`` answers 200."""
    try:
        return httpx.get(f"{url.rstrip('/')}/health", timeout=timeout_s).status_code == 200
    except httpx.HTTPError:
        return False


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(host: str, port: int) -> bool:
    """Return True when nothing listens on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def first_missing(path: Path) -> Path | None:
    """The outermost folder on the way to ``path`` that does not exist yet (None: all exist)."""
    missing = None
    for candidate in (path, *path.parents):
        if candidate.exists():
            break
        missing = candidate
    return missing


def kept_secret(path: Path) -> str:
    """Read a secret kept in ``path``, creating it (mode 0600) on first use."""
    if path.exists():
        return path.read_text("utf-8").strip()
    value = secrets.token_hex(20)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    return value


def is_label_studio(pid: int) -> bool:
    """Return True when ``pid`` is a live ``label-studio`` process (not a recycled pid)."""
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and any(
            "label-studio" in part for part in process.cmdline()
        )
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def started_document_root(pid: int) -> str | None:
    """The local-files document root process ``pid`` was started with (None: none or unknown)."""
    try:
        environment = psutil.Process(pid).environ()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None
    if environment.get("LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED", "").lower() != "true":
        return None
    return environment.get("LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT") or None


def terminate(pid: int, timeout_s: float) -> None:
    """SIGTERM ``pid``, wait up to ``timeout_s``, then SIGKILL."""
    try:
        process = psutil.Process(pid)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=timeout_s)
    except psutil.TimeoutExpired:
        LOG.warning("Label Studio (pid %d) ignored SIGTERM for %.0f s; killing it", pid, timeout_s)
        process.kill()
        process.wait(timeout=10)
    except psutil.NoSuchProcess:
        pass


def log_tail(path: Path, lines: int = 5) -> str:
    """The last ``lines`` lines of a log joined with `` | `` (``"(no log)"`` when unreadable)."""
    try:
        tail = path.read_text("utf-8", errors="replace").splitlines()[-lines:]
    except OSError:
        return "(no log)"
    return " | ".join(line.strip() for line in tail)


def read_pid_file(data_dir: Path) -> dict[str, object]:
    """The server's pid file in ``data_dir`` as a dict (empty when missing or unreadable)."""
    path = Path(data_dir) / PID_FILE
    try:
        return dict(json.loads(path.read_text("utf-8")))
    except (OSError, ValueError):
        return {}
