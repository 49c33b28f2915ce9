"""Throwaway processes on 127.0.0.1 for the scale-out tests and benchmark, each stopped by its PID.

Celery workers, the code-location server and the Dagster daemon here; the data stores
(PostgreSQL, Redis, moto's S3) in tests/deploy/stores.py. Every process starts in a
session of its own and is stopped through that session's process group (SIGTERM, then SIGKILL),
so a child it forked (a Celery pool process, the daemon's code server, run workers) goes with it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from roadmark_pipeline.localserve import free_port

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


class ServiceError(RuntimeError):
    """A server did not start; the message carries the end of its log."""


@dataclass
class Service:
    """One started process, its log and how to stop it."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 40) -> str:
        """The end of the process's log, for failure messages."""
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return f"({self.log} unreadable)"
        return "\n".join(text[-lines:])

    def stop(self, timeout_s: float = 15.0) -> None:
        """Terminate the process's group by its PID, wait, then kill what is left."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=timeout_s)
                _reap_group(self.process.pid, timeout_s)
                return
            except subprocess.TimeoutExpired:
                continue


def _reap_group(pgid: int, timeout_s: float) -> None:
    """Wait until no process of the group is left (children may outlive the leader)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


@dataclass
class Services:
    """Started services, stopped in reverse order by :meth:`stop_all` (also on failure)."""

    base: Path
    started: list[Service] = field(default_factory=list)
    cleanup: list[Path] = field(default_factory=list)

    def start(
        self,
        name: str,
        command: list[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
    ) -> Service:
        """Start ``command`` in a new session with its output in ``<base>/logs/<name>.log``."""
        logs = self.base / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log = logs / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
                **_as_user(user),
            )
        service = Service(name, process, log)
        self.started.append(service)
        return service

    def stop_all(self) -> None:
        """Stop every started process, newest first."""
        while self.started:
            self.started.pop().stop()

    def logs(self) -> str:
        """Every service's log tail, for a failure message."""
        return "\n".join(f"--- {s.name} (pid {s.pid}) ---\n{s.tail()}" for s in self.started)


def _as_user(user: str | None) -> dict:
    if user is None:
        return {}
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise ServiceError(
            f"no {user!r} user: as root, PostgreSQL must run as another user "
            "(apt-get install postgresql creates it, or run the tests as a normal user)"
        ) from None
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def wait_for(
    check: Callable[[], bool], service: Service, what: str, timeout_s: float = 60.0
) -> None:
    """Poll ``check`` until it is true; fail with the service's log if it dies or times out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not service.running():
            raise ServiceError(f"{service.name} exited ({what}):\n{service.tail()}")
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(0.2)
    raise ServiceError(f"{service.name}: {what} not within {timeout_s:.0f} s:\n{service.tail()}")


def start_celery_worker(
    services: Services,
    name: str,
    env: Mapping[str, str],
    concurrency: int = 1,
    wait: bool = True,
) -> Service:
    """Start a dagster-celery worker with deploy/celery/worker.yaml.

    The worker imports the code location before it takes tasks (``-i``), so the first step
    does not pay for the import. With ``wait`` it returns once the worker said it is ready.
    """
    service = services.start(
        f"celery-{name}",
        [str(VENV_BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app"]
        + ["-y", str(ROOT / "deploy/celery/worker.yaml"), "-n", name]
        + ["-i", "roadmark_pipeline.definitions", "--", f"--concurrency={concurrency}"],
        env=env,
        cwd=services.base,
    )
    if wait:
        wait_until_ready(service)
    return service


def wait_until_ready(worker: Service, timeout_s: float = 120.0) -> None:
    """Wait for a Celery worker's "ready." log line."""
    wait_for(
        lambda: " ready." in worker.log.read_text(errors="replace"), worker, "ready", timeout_s
    )


def start_code_server(services: Services, env: Mapping[str, str]) -> tuple[Service, int]:
    """Start the roadmark code location as its own gRPC server on 127.0.0.1; return its port.

    The webserver, the daemon and the CLI reach it through deploy/workspace.yaml
    (``ROADMARK_CODE_HOST``/``ROADMARK_CODE_PORT``).
    """
    port = free_port()
    service = services.start(
        "code-server",
        [str(VENV_BIN / "dagster"), "code-server", "start", "-m", "roadmark_pipeline.definitions"]
        + ["-a", "defs", "-h", "127.0.0.1", "-p", str(port)],
        env=env,
        cwd=services.base,
    )
    health = [str(VENV_BIN / "dagster"), "api", "grpc-health-check", "-p", str(port)]
    wait_for(
        lambda: subprocess.run(health, capture_output=True, timeout=30, env=env).returncode == 0,
        service,
        "serving",
        120,
    )
    return service, port


def start_daemon(
    services: Services, env: Mapping[str, str], workspace: Path = ROOT / "workspace.yaml"
) -> Service:
    """Start ``dagster-daemon run`` on a workspace (by default the repository's)."""
    return services.start(
        "dagster-daemon",
        [str(VENV_BIN / "dagster-daemon"), "run", "-w", str(workspace)],
        env=env,
        cwd=services.base,
    )


def base_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The environment for every pipeline process: this one's, the venv first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


@contextlib.contextmanager
def running_services(base: Path) -> Iterator[Services]:
    """Yield a :class:`Services`; on exit every process is stopped and scratch folders removed."""
    services = Services(base)
    try:
        yield services
    finally:
        services.stop_all()
        for folder in services.cleanup:
            shutil.rmtree(folder, ignore_errors=True)
