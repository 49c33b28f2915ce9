"""A local Label Studio server the pipeline starts, reuses and stops, and a checked connection.

The server binds 127.0.0.1 only, never calls home (``LATEST_VERSION_CHECK=false``), serves the
frames from a local document root, and logs to ``<data_dir>/server.log``. A pid file in the data
folder lets a second ``start()`` (another process, a restarted Dagster run) reuse the running
server instead of starting another one on the same database.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import httpx

from roadmark_pipeline.labeling.server_process import (
    PID_FILE,
    first_missing,
    free_port,
    health_ok,
    is_label_studio,
    kept_secret,
    log_tail,
    port_is_free,
    read_pid_file,
    started_document_root,
    terminate,
)
from roadmark_pipeline.lake import write_json_atomic

# Re-exported: callers import the port and health helpers from here.
__all__ = [
    "PID_FILE",
    "LabelStudioError",
    "LabelStudioServer",
    "connect",
    "connect_from_env",
    "free_port",
    "health_ok",
    "port_is_free",
]

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio

LOG = logging.getLogger(__name__)

TOKEN_ENV = "ROADMARK_LS_TOKEN"
URL_ENV = "ROADMARK_LS_URL"
TOKEN_FILE = "api_token"
PASSWORD_FILE = "admin_password"
_SECRET_FILES = (TOKEN_FILE, PASSWORD_FILE)
LOG_FILE = "server.log"
DEFAULT_USERNAME = "admin@roadmark.local"
_MIN_TOKEN_LEN = 6


class LabelStudioError(RuntimeError):
    """Label Studio cannot be reached, refuses our token, or failed to start."""


class LabelStudioServer:
    """A Label Studio server on this machine, owned by one data folder.

    Args:
        data_dir: Folder for the SQLite database, media, the pid file, the token and the log.
        port: TCP port; a free one is picked when omitted.
        host: Interface to bind; only loopback addresses are accepted.
        username: E-mail of the admin user created on first start.
        password: Its password; generated and kept in ``data_dir`` when omitted.
        token: API token; else ``$ROADMARK_LS_TOKEN``; else generated once and kept in
            ``data_dir/api_token`` (mode 0600).
        document_root: Folder whose files Label Studio may serve as
            ``/data/local-files/?d=<path relative to it>``; local serving is off when omitted.
            A running server that is reused must have been started with the same ``port`` and
            ``document_root`` when they are given; after :meth:`start`, both attributes hold
            what the server runs with.

    Raises:
        LabelStudioError: When ``host`` is not a loopback address.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        username: str = DEFAULT_USERNAME,
        password: str | None = None,
        token: str | None = None,
        document_root: Path | None = None,
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise LabelStudioError(
                f"host {host!r}: the managed Label Studio binds loopback only; use 127.0.0.1"
            )
        self.data_dir = Path(data_dir).resolve()
        self.host = host
        self.port = port
        self.username = username
        self._password = password
        self._token_arg = token
        self.document_root = Path(document_root).resolve() if document_root else None
        self.token = ""
        self.url = ""
        self.pid: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._spawned = False

    def __enter__(self) -> LabelStudioServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def log_path(self) -> Path:
        """The server's log file."""
        return self.data_dir / LOG_FILE

    def start(self, timeout_s: float = 240) -> None:
        """Start the server, or adopt the one already running for this data folder.

        A start that fails leaves nothing behind that it made: a data folder it created is
        removed (the error carries the log's tail); in a folder that was there, the token and
        password files it created are removed when the server never ran (once it ran, its
        database may hold them, so they stay).

        Args:
            timeout_s: How long to wait for ``/health`` (a first start migrates a new database,
                about 50 s on two cores).

        Raises:
            LabelStudioError: When the port is taken, the process exits, health never comes,
                or the running server was started with another port or document root.
            OSError: When the data folder cannot be created.
        """
        made = first_missing(self.data_dir)
        secrets_before = {name: (self.data_dir / name).exists() for name in _SECRET_FILES}
        try:
            self._start(timeout_s)
        except (LabelStudioError, OSError) as error:
            if made is not None:
                shutil.rmtree(made, ignore_errors=True)
                if self._spawned:
                    raise LabelStudioError(f"{error} (removed the new {made})") from None
            elif not self._spawned:
                for name, existed in secrets_before.items():
                    if not existed:
                        (self.data_dir / name).unlink(missing_ok=True)
            raise

    def _start(self, timeout_s: float) -> None:
        """Adopt the running server, or check the port, spawn and wait for health."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.token = self._resolve_token()
        if self._adopt_running():
            return

        self.port = self.port or free_port(self.host)
        if not port_is_free(self.host, self.port):
            raise LabelStudioError(
                f"port {self.port} on {self.host} is taken; pass another --port or stop the "
                "program that holds it"
            )
        self.url = f"http://{self.host}:{self.port}"
        self._spawn()
        self._wait_healthy(timeout_s)
        LOG.info("Label Studio up at %s (pid %d, data %s)", self.url, self.pid, self.data_dir)

    def stop(self, timeout_s: float = 20) -> None:
        """Stop the server by its pid: SIGTERM, wait, then SIGKILL; remove the pid file.

        Args:
            timeout_s: Grace period after SIGTERM.
        """
        pid = self.pid or read_pid_file(self.data_dir).get("pid")
        if pid and is_label_studio(int(pid)):
            terminate(int(pid), timeout_s)
            LOG.info("Label Studio (pid %d) stopped", pid)
        if self._process is not None:
            self._process.wait(timeout=5)
            self._process = None
        (self.data_dir / PID_FILE).unlink(missing_ok=True)
        self.pid = None

    def recorded(self) -> dict[str, object]:
        """The pid file's content (``pid``, ``url``, ``port``, ``started``, ``document_root``).

        ``document_root`` is None when local serving is off; a pid file written before it was
        recorded gets it from the process environment. Empty when there is no pid file.
        """
        info = read_pid_file(self.data_dir)
        if info.get("pid") and "document_root" not in info:
            info["document_root"] = started_document_root(int(str(info["pid"])))
        return info

    def is_running(self) -> bool:
        """Return True when this folder's server process is alive and answers ``/health``."""
        info = read_pid_file(self.data_dir)
        pid, url = info.get("pid"), info.get("url")
        return bool(pid and url and is_label_studio(int(pid)) and health_ok(str(url)))

    def _adopt_running(self) -> bool:
        """Reuse a server recorded in the pid file when it is alive and healthy."""
        info = read_pid_file(self.data_dir)
        pid, url = info.get("pid"), info.get("url")
        if not pid or not url:
            return False
        if is_label_studio(int(pid)) and health_ok(str(url)):
            self._check_same_settings(self.recorded())
            self.pid, self.url, self.port = int(pid), str(url), int(info.get("port") or 0)
            root = self.recorded().get("document_root")
            self.document_root = Path(str(root)) if root else None
            LOG.info(
                "reusing Label Studio at %s (pid %d) for %s", self.url, self.pid, self.data_dir
            )
            return True
        LOG.info("stale pid file in %s (pid %s not serving); starting afresh", self.data_dir, pid)
        (self.data_dir / PID_FILE).unlink(missing_ok=True)
        return False

    def _check_same_settings(self, info: dict[str, object]) -> None:
        """Refuse to reuse a server started with another port or document root than asked."""
        root = info.get("document_root")
        wrong = []
        if self.port and self.port != info.get("port"):
            wrong.append(f"port {self.port}")
        if self.document_root and str(self.document_root) != root:
            wrong.append(f"document root {self.document_root}")
        if wrong:
            raise LabelStudioError(
                f"Label Studio already runs for {self.data_dir} at {info.get('url')} (pid "
                f"{info.get('pid')}, document root {root or 'none'}), not with "
                f"{' and '.join(wrong)}; to restart it so, run `roadmark labelstudio stop "
                f"--data-dir {self.data_dir}` first"
            )

    def _spawn(self) -> None:
        """Start the ``label-studio`` process in its own session, logging to ``server.log``."""
        command = [
            _label_studio_executable(),
            "start",
            "--internal-host",
            self.host,
            "--port",
            str(self.port),
            "--no-browser",
        ]
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                command,
                env=self._environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.data_dir,
                start_new_session=True,
            )
        self.pid = self._process.pid
        self._spawned = True
        root = str(self.document_root) if self.document_root is not None else None
        info = {"pid": self.pid, "url": self.url, "port": self.port, "started": time.time()}
        write_json_atomic(self.data_dir / PID_FILE, {**info, "document_root": root})

    def _environment(self) -> dict[str, str]:
        """Environment of the server process: our data folder, admin user, token, no phone-home."""
        env = dict(os.environ)
        env.update(
            LABEL_STUDIO_BASE_DATA_DIR=str(self.data_dir),
            LABEL_STUDIO_USERNAME=self.username,
            LABEL_STUDIO_PASSWORD=self._resolve_password(),
            LABEL_STUDIO_USER_TOKEN=self.token,
            LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true",
            LATEST_VERSION_CHECK="false",
            LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK="true",
        )
        if self.document_root is not None:
            env["LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED"] = "true"
            env["LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT"] = str(self.document_root)
        return env

    def _wait_healthy(self, timeout_s: float) -> None:
        """Poll ``/health`` until it answers; fail fast when the process exits."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                (self.data_dir / PID_FILE).unlink(missing_ok=True)
                raise LabelStudioError(
                    f"Label Studio exited with code {code} before {self.url} answered; "
                    f"see {self.log_path}: {log_tail(self.log_path)}"
                )
            if health_ok(self.url):
                return
            time.sleep(1.0)
        self.stop()
        raise LabelStudioError(
            f"Label Studio did not answer {self.url}/health within {timeout_s:.0f} s (stopped it); "
            f"raise timeout_s or see {self.log_path}: {log_tail(self.log_path)}"
        )

    def _resolve_token(self) -> str:
        """Token from the argument, else the environment, else the one kept in the data folder."""
        token = self._token_arg or os.environ.get(TOKEN_ENV, "")
        if token:
            if len(token) < _MIN_TOKEN_LEN:
                raise LabelStudioError(
                    f"API token is {len(token)} characters; Label Studio needs at least "
                    f"{_MIN_TOKEN_LEN} — set a longer {TOKEN_ENV}"
                )
            return token
        return kept_secret(self.data_dir / TOKEN_FILE)

    def _resolve_password(self) -> str:
        return self._password or kept_secret(self.data_dir / PASSWORD_FILE)


def connect(url: str, token: str, *, timeout_s: float = 10) -> LabelStudio:
    """Open an SDK client after checking that the server answers and accepts the token.

    Args:
        url: Base URL such as ``http://127.0.0.1:8080``.
        token: The API token (legacy token of the user).
        timeout_s: Timeout of each HTTP request.

    Returns:
        A ``label_studio_sdk.LabelStudio`` client.

    Raises:
        LabelStudioError: When the server cannot be reached or refuses the token.
    """
    from label_studio_sdk import LabelStudio

    url = url.rstrip("/")
    if not token:
        raise LabelStudioError(f"{url}: no API token; set {TOKEN_ENV} or pass token=")
    try:
        response = httpx.get(
            f"{url}/api/current-user/whoami",
            headers={"Authorization": f"Token {token}"},
            timeout=timeout_s,
        )
    except httpx.HTTPError as error:
        raise LabelStudioError(
            f"{url}: Label Studio unreachable ({type(error).__name__}); start it with "
            f"`roadmark labelstudio start` or set {URL_ENV} to a running server"
        ) from None
    if response.status_code in (401, 403):
        raise LabelStudioError(
            f"{url}: Label Studio refused the API token (HTTP {response.status_code}); set "
            f"{TOKEN_ENV} to the token shown under Account & Settings of that server"
        )
    if response.status_code != 200:
        raise LabelStudioError(
            f"{url}: unexpected HTTP {response.status_code} from /api/current-user/whoami; is "
            "this a Label Studio server?"
        )
    LOG.info("connected to Label Studio at %s as %s", url, response.json().get("email"))
    return LabelStudio(base_url=url, api_key=token, timeout=60)


def connect_from_env() -> LabelStudio:
    """Connect to the server named by ``$ROADMARK_LS_URL`` with ``$ROADMARK_LS_TOKEN``.

    Raises:
        LabelStudioError: When either variable is missing or the connection fails.
    """
    url = os.environ.get(URL_ENV, "")
    if not url:
        raise LabelStudioError(f"{URL_ENV} is not set; set it to e.g. http://127.0.0.1:8080")
    return connect(url, os.environ.get(TOKEN_ENV, ""))


def _label_studio_executable() -> str:
    """The ``label-studio`` script of this interpreter's environment."""
    beside = Path(sys.executable).with_name("label-studio")
    found = str(beside) if beside.exists() else shutil.which("label-studio")
    if not found:
        raise LabelStudioError(
            "label-studio is not installed in this environment; install the pinned "
            "label-studio package (see pyproject.toml)"
        )
    return found
