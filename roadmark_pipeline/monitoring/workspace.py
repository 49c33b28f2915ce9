"""The Evidently UI workspace: every day's drift snapshots in one local folder.

Optional next to the PNG plots: ``roadmark`` adds each drift report's Evidently snapshots
(overall and per segment) to a local workspace, which ``evidently ui`` serves on 127.0.0.1
without any network. The Evidently UI service sends usage telemetry to Evidently's server unless
``DO_NOT_TRACK`` is set, so :func:`ui_command` always sets it.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from roadmark_pipeline.monitoring.drift import SNAPSHOT_FILE, snapshot_name
from roadmark_pipeline.monitoring.result import DriftResult

LOG = logging.getLogger(__name__)

PROJECT_NAME = "roadmark fleet drift"
DO_NOT_TRACK_ENV = "DO_NOT_TRACK"
LOCAL_HOST = "127.0.0.1"


def _open_workspace(folder: Path) -> Any:
    """Open (or create) a local Evidently workspace."""
    from evidently.ui.workspace import Workspace

    folder.mkdir(parents=True, exist_ok=True)
    return Workspace.create(str(folder))


def _project(workspace: Any, name: str) -> Any:
    """Return the project called ``name``, creating it the first time."""
    found = workspace.search_project(name)
    if found:
        return found[0]
    project = workspace.create_project(name, description="Daily fleet drift reports (roadmark)")
    LOG.info("created Evidently project %r", name)
    return project


def _run_names(workspace: Any, project_id: Any) -> set[str]:
    """Return the names of the snapshots already in a project."""
    names = set()
    for snapshot_id in workspace.list_runs(project_id):
        model = workspace.get_run(project_id, snapshot_id)
        if model is not None and model.name:
            names.add(model.name)
    return names


def _snapshot_files(result: DriftResult) -> list[tuple[str, Path]]:
    """Return ``(snapshot name, evidently.json)`` of the overall result and every segment."""
    files = []
    for part in (result, *result.segments.values()):
        if part.json_path is None:
            continue
        path = part.json_path.parent / SNAPSHOT_FILE
        if path.exists():  # missing when Evidently did not run (insufficient data)
            files.append((snapshot_name(part.day, part.segment), path))
    return files


def add_to_workspace(
    workspace_dir: Path | str, result: DriftResult, project_name: str = PROJECT_NAME
) -> list[str]:
    """Add a drift report's Evidently snapshots to a local workspace, once per name.

    Args:
        workspace_dir: The workspace folder (created when missing).
        result: A written drift report (:func:`drift.drift_report`'s return value).
        project_name: The Evidently project the snapshots go to.

    Returns:
        Names of the snapshots added; a name already in the project (the same day and segment
        added before) is skipped, so re-running a day does not duplicate it.
    """
    from evidently.core.report import Snapshot

    workspace = _open_workspace(Path(workspace_dir))
    project = _project(workspace, project_name)
    existing = _run_names(workspace, project.id)
    added = []
    for name, path in _snapshot_files(result):
        if name in existing:
            continue
        workspace.add_run(project.id, Snapshot.load(str(path)), name=name)
        added.append(name)
    LOG.info(
        "workspace %s: %d snapshots added, %d already there",
        workspace_dir,
        len(added),
        len(existing),
    )
    return added


def ui_command(workspace_dir: Path | str, port: int = 8000) -> tuple[list[str], dict[str, str]]:
    """Return the command and environment that serve the workspace on 127.0.0.1 only.

    Args:
        workspace_dir: The workspace folder.
        port: The local port.

    Returns:
        ``argv`` for ``subprocess`` and the environment to run it with (``DO_NOT_TRACK=1`` set,
        so the UI sends nothing to Evidently's telemetry server).
    """
    evidently = Path(sys.executable).with_name("evidently")
    argv = [str(evidently), "ui", "--host", LOCAL_HOST, "--port", str(port)]
    argv += ["--workspace", str(workspace_dir)]
    return argv, {**os.environ, DO_NOT_TRACK_ENV: "1"}


def serve_ui(workspace_dir: Path | str, port: int = 8000, stop_timeout_s: float = 10.0) -> int:
    """Serve the workspace with ``evidently ui`` until it exits or this process is stopped.

    The server runs in its own process group, which is stopped (SIGTERM, then SIGKILL after
    ``stop_timeout_s``) however this function is left: the server exiting, Ctrl+C, or a
    SIGTERM that the ``roadmark`` command line turns into ``SystemExit``. On Linux the server
    also gets SIGTERM from the kernel if this process dies without a chance to clean up.

    Args:
        workspace_dir: The workspace folder.
        port: The local port (127.0.0.1 only).
        stop_timeout_s: Seconds the server gets to stop before it is killed.

    Returns:
        The server's exit code, or 0 when stopped with Ctrl+C.
    """
    argv, env = ui_command(workspace_dir, port)
    server = subprocess.Popen(  # noqa: S603 - our own venv's evidently, fixed arguments
        argv, env=env, start_new_session=True, preexec_fn=_die_with_parent()
    )
    try:
        return server.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        _stop_group(server, stop_timeout_s)


def _stop_group(server: subprocess.Popen[bytes], timeout_s: float) -> None:
    """Stop the server's process group unless the server has already been reaped."""
    if server.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            return
        try:
            server.wait(timeout=timeout_s)
            LOG.info("Evidently UI (pid %d) stopped", server.pid)
            return
        except subprocess.TimeoutExpired:
            LOG.warning(
                "Evidently UI (pid %d) did not stop in %.0f s; killing it", server.pid, timeout_s
            )


def _die_with_parent() -> Any:
    """A ``preexec_fn`` that asks Linux to SIGTERM the child when its parent dies (else None)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def arm() -> None:
        prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before the request was armed
            os.kill(os.getpid(), signal.SIGTERM)

    return arm
