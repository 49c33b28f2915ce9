"""Over-the-air update through TUF: verify, stage, health-check, switch, keep the previous one.

``update`` walks these steps; a crash at any of them leaves ``current`` pointing at a complete,
verified release (the old one until the very last rename, the new one after it):

1. ``refreshed``: TUF metadata refreshed (signatures, versions, expiry all checked by
   ``tuf.ngclient``: forged, rolled-back, frozen or expired metadata is refused here);
2. ``downloaded``: the channel pointer and every file of the release, each checked against the
   signed length and hash (tampered, truncated or swapped files are refused here);
3. ``installed``: the bundle verified against its manifest and its runtime wheel unpacked into
   the new slot's ``runtime/`` (never over the running runtime);
4. ``healthy``: the probe frames run through the new slot's runtime and model, in a child process,
   and must give the expected detections;
5. ``slotted`` / ``previous_set`` / ``switched``: the slot moved into ``releases/``, ``previous``
   pointed at the running release, then ``current`` at the new one (atomic renames).

For tests, ``ROADMARK_EDGE_CRASH_AT=<step>`` makes the updater kill itself (SIGKILL) at that step.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tuf.api import exceptions as tuf_errors
from tuf.ngclient import Updater

from jetson_runtime.bundle import BundleError, check_version_text, load_bundle, version_key
from jetson_runtime.parquet import UTC
from jetson_runtime.slots import (
    BUNDLE_DIR,
    RUNTIME_DIR,
    DeviceLayout,
    point,
    read_state,
    update_state,
)

LOG = logging.getLogger(__name__)

CRASH_ENV = "ROADMARK_EDGE_CRASH_AT"
IN_SLOT_ENV = "ROADMARK_EDGE_IN_SLOT"
TRUSTED_ROOT = "trusted_root.json"
HEALTH_TIMEOUT_S = 900
STEPS = ("refreshed", "downloaded", "installed", "healthy", "slotted", "previous_set", "switched")


class UpdateError(RuntimeError):
    """An update that was refused or failed; the running release is untouched.

    Attributes:
        reason: A short code: ``forged``, ``rollback``, ``expired``, ``mismatch``, ``missing``,
            ``unreachable``, ``outdated``, ``bad_version``, ``invalid``, ``unhealthy``,
            ``no_root``, ``busy``.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class UpdateResult:
    """What an update did.

    Attributes:
        status: ``updated`` or ``up_to_date``.
        version: The release now current.
        previous: The release kept as previous.
        channel: The channel followed.
    """

    status: str
    version: str | None
    previous: str | None
    channel: str


def checkpoint(step: str) -> None:
    """Mark a step of the update; the crash-test hook kills the process here when asked."""
    LOG.debug("update step %s", step)
    if os.environ.get(CRASH_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def channel_target(channel: str) -> str:
    """Target path of a channel pointer (mirrors the repository side)."""
    return f"channels/{channel}.json"


def release_target(version: str, name: str) -> str:
    """Target path of a release file (mirrors the repository side)."""
    return f"releases/{version}/{name}"


def _explain(exc: Exception, what: str) -> UpdateError:
    """Turn a TUF or download error into an :class:`UpdateError` with a clear message."""
    table = [
        (tuf_errors.UnsignedMetadataError, "forged", "signature check failed: forged metadata"),
        (tuf_errors.BadVersionNumberError, "rollback", "older metadata than already trusted"),
        (tuf_errors.ExpiredMetadataError, "expired", "metadata expired (frozen repository?)"),
        (tuf_errors.LengthOrHashMismatchError, "mismatch", "length/hash differs from signed"),
        (tuf_errors.DownloadLengthMismatchError, "mismatch", "length differs from signed"),
        (tuf_errors.DownloadHTTPError, "missing", "the repository does not serve it"),
        (tuf_errors.DownloadError, "unreachable", "the repository cannot be reached"),
        (tuf_errors.RepositoryError, "invalid", "the repository metadata is invalid"),
    ]
    for kind, reason, text in table:
        if isinstance(exc, kind):
            return UpdateError(
                reason, f"{what}: refused, {text} ({exc}); the device keeps its release"
            )
    return UpdateError("invalid", f"{what}: {exc}")


def _trust_anchor(layout: DeviceLayout, trusted_root: Path | None) -> bytes:
    """Return the root to bootstrap TUF with; provision it from ``trusted_root`` on first use."""
    anchor = layout.tuf_dir / TRUSTED_ROOT
    if trusted_root is not None and not anchor.exists():
        layout.tuf_dir.mkdir(parents=True, exist_ok=True)
        tmp = anchor.with_name(f".{TRUSTED_ROOT}.tmp")
        shutil.copyfile(trusted_root, tmp)
        os.replace(tmp, anchor)
    cached = layout.tuf_dir / "metadata" / "root.json"
    for candidate in (cached, anchor):
        if candidate.is_file():
            return candidate.read_bytes()
    raise UpdateError("no_root", f"{layout.root}: no trusted root; pass --trusted-root FILE once")


@contextmanager
def _single_updater(layout: DeviceLayout) -> Iterator[None]:
    layout.root.mkdir(parents=True, exist_ok=True)
    with open(layout.root / ".update.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UpdateError("busy", f"{layout.root}: another update is running") from None
        yield


def _safe_name(name: str) -> str:
    parts = Path(name).parts
    if Path(name).is_absolute() or ".." in parts or not parts:
        raise UpdateError("invalid", f"release file name {name!r} escapes the release folder")
    return name


def _open_updater(layout: DeviceLayout, repo_url: str, root: bytes, downloads: Path) -> Updater:
    metadata_dir = layout.tuf_dir / "metadata"
    metadata_dir.mkdir(parents=True, exist_ok=True)
    base = repo_url.rstrip("/")
    try:
        updater = Updater(
            str(metadata_dir),
            f"{base}/metadata/",
            str(downloads),
            f"{base}/targets/",
            bootstrap=root,
        )
        updater.refresh()
    except (tuf_errors.RepositoryError, tuf_errors.DownloadError) as exc:
        raise _explain(exc, f"{base} metadata") from exc
    return updater


def _download(updater: Updater, target: str, destination: Path) -> Path:
    try:
        info = updater.get_targetinfo(target)
        if info is None:
            raise UpdateError("missing", f"{target}: not among the signed targets; refused")
        destination.parent.mkdir(parents=True, exist_ok=True)
        return Path(updater.download_target(info, str(destination)))
    except (tuf_errors.RepositoryError, tuf_errors.DownloadError) as exc:
        raise _explain(exc, target) from exc


def _read_pointer(updater: Updater, channel: str, stage: Path) -> tuple[str, list[str]]:
    path = _download(updater, channel_target(channel), stage / "channel.json")
    try:
        pointer = json.loads(path.read_text("utf-8"))
        version = check_version_text(str(pointer["version"]))
        files = [_safe_name(str(name)) for name in pointer["files"]]
    except (ValueError, KeyError, TypeError, BundleError) as exc:
        raise UpdateError("invalid", f"channel {channel}: malformed pointer ({exc})") from exc
    return version, files


def install_runtime(wheel: Path, target: Path) -> None:
    """Unpack a pure-Python runtime wheel into ``target`` (a new slot's ``runtime/``).

    Raises:
        UpdateError: When the wheel is unreadable or holds a path outside its folder.
    """
    try:
        with zipfile.ZipFile(wheel) as archive:
            names = archive.namelist()
            for name in names:
                if Path(name).is_absolute() or ".." in Path(name).parts:
                    raise UpdateError("invalid", f"{wheel.name}: member {name!r} escapes; refused")
            if not any(n.startswith("jetson_runtime/") for n in names):
                raise UpdateError("invalid", f"{wheel.name}: holds no jetson_runtime package")
            archive.extractall(target)
    except zipfile.BadZipFile as exc:
        raise UpdateError("invalid", f"{wheel.name}: not a wheel ({exc})") from exc


# Puts the slot's runtime first on sys.path, ahead of the working directory that ``-m`` would
# put there (a checkout of the runtime in the working directory must not shadow the slot's).
_SLOT_BOOT = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); "
    "from jetson_runtime.cli import main; sys.exit(main(sys.argv[1:]))"
)


def slot_command(slot: Path, args: list[str]) -> list[str]:
    """Return the command that runs ``roadmark-edge args`` with the runtime installed in ``slot``.

    A slot without a runtime of its own (a bundle shipped without a wheel) runs this runtime.
    """
    runtime = slot / RUNTIME_DIR
    if (runtime / "jetson_runtime").is_dir():
        return [sys.executable, "-c", _SLOT_BOOT, str(runtime), *args]
    return [sys.executable, "-m", "jetson_runtime.cli", *args]


def slot_env() -> dict[str, str]:
    """Return the environment of a slot's runtime: marked as started, crash hooks removed."""
    env = dict(os.environ)
    env[IN_SLOT_ENV] = "1"
    env.pop(CRASH_ENV, None)
    return env


def run_health_check(slot: Path, layout: DeviceLayout, timeout: float = HEALTH_TIMEOUT_S) -> None:
    """Run the slot's probe frames with the slot's own runtime, in a child process.

    Raises:
        UpdateError: When the check fails, crashes or does not finish in time.
    """
    args = ["health", "--bundle", str(slot / BUNDLE_DIR), "--device-dir", str(layout.root)]
    command = slot_command(slot, args)
    try:
        done = subprocess.run(
            command, env=slot_env(), capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        raise UpdateError("unhealthy", f"health check of {slot.name} timed out") from exc
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-6:]
        raise UpdateError("unhealthy", f"health check of {slot.name} failed: " + " | ".join(tail))


def _fetch_release(updater: Updater, version: str, files: list[str], stage: Path) -> None:
    """Download every file of a release and check it is one consistent bundle."""
    for name in files:
        _download(updater, release_target(version, name), stage / BUNDLE_DIR / name)
    checkpoint("downloaded")
    try:
        manifest = json.loads((stage / BUNDLE_DIR / "manifest.json").read_text("utf-8"))
        bundle = load_bundle(stage / BUNDLE_DIR, runtime_version=manifest["min_runtime_version"])
    except (OSError, ValueError, KeyError) as exc:
        raise UpdateError("invalid", f"release {version}: {exc}") from exc
    if bundle.version != version or set(manifest["files"]) | {"manifest.json"} != set(files):
        raise UpdateError(
            "mismatch",
            f"release {version}: the channel's file list and the manifest of {bundle.version} "
            "disagree (mix-and-match); refused",
        )
    if bundle.wheel_path is not None:
        install_runtime(bundle.wheel_path, stage / RUNTIME_DIR)
    checkpoint("installed")


def _check_wanted(layout: DeviceLayout, version: str, allow_downgrade: bool) -> None:
    current = layout.current_version()
    bad = read_state(layout).get("bad_versions", [])
    if version in bad:
        raise UpdateError(
            "bad_version", f"release {version} was rolled back after failed starts; refused"
        )
    if current and version_key(version) < version_key(current) and not allow_downgrade:
        raise UpdateError(
            "outdated", f"release {version} is older than the running {current}; refused"
        )


def _switch(layout: DeviceLayout, stage: Path, version: str) -> str | None:
    """Move the staged release into its slot and make it current; return the old current."""
    slot = layout.slot(version)
    if slot.exists():  # left by an interrupted update; never the current or previous one
        shutil.rmtree(slot)
    layout.releases.mkdir(parents=True, exist_ok=True)
    os.replace(stage, slot)
    checkpoint("slotted")
    old = layout.current()
    if old is not None:
        point(layout.previous_link, old)
    checkpoint("previous_set")
    point(layout.current_link, slot)
    checkpoint("switched")
    return old.name if old else None


def update(
    device_dir: Path,
    repo_url: str,
    *,
    channel: str = "stable",
    trusted_root: Path | None = None,
    allow_downgrade: bool = False,
) -> UpdateResult:
    """Update the device to the release its channel points at, if it is newer and healthy.

    Args:
        device_dir: The device folder.
        repo_url: The TUF repository's base URL (``metadata/`` and ``targets/`` below it).
        channel: ``stable`` or ``canary``.
        trusted_root: The root metadata to trust; needed on the first update only.
        allow_downgrade: Accept a release older than the running one.

    Returns:
        What was done.

    Raises:
        UpdateError: When the update is refused or fails; the running release is untouched.
    """
    layout = DeviceLayout(Path(device_dir))
    with _single_updater(layout):
        root = _trust_anchor(layout, trusted_root)
        layout.staging.mkdir(parents=True, exist_ok=True)
        stage = layout.staging / f"{uuid.uuid4().hex[:12]}"
        try:
            updater = _open_updater(layout, repo_url, root, stage / "downloads")
            checkpoint("refreshed")
            version, files = _read_pointer(updater, channel, stage)
            update_state(layout, channel=channel, last_check=datetime.now(UTC).isoformat())
            if version == layout.current_version():
                LOG.info("channel %s: %s already current", channel, version)
                return UpdateResult("up_to_date", version, layout.previous_version(), channel)
            _check_wanted(layout, version, allow_downgrade)
            _fetch_release(updater, version, files, stage)
            shutil.rmtree(stage / "downloads", ignore_errors=True)
            (stage / "channel.json").unlink(missing_ok=True)
            run_health_check(stage, layout)
            checkpoint("healthy")
            previous = _switch(layout, stage, version)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        update_state(
            layout, failed_starts=0, last_update=datetime.now(UTC).isoformat(), version=version
        )
        for leftover in layout.staging.iterdir():
            shutil.rmtree(leftover, ignore_errors=True)
        LOG.info("updated to %s (previous %s) from channel %s", version, previous, channel)
        return UpdateResult("updated", version, previous, channel)


def rollback(layout: DeviceLayout, reason: str) -> str | None:
    """Make the previous release current again and mark the failed one bad.

    Returns:
        The version now current, or None when there is no previous release to go back to.
    """
    bad, previous = layout.current_version(), layout.previous()
    if previous is None or bad is None or previous.name == bad:
        LOG.error("cannot roll back %s (%s): no previous release", bad, reason)
        return None
    point(layout.current_link, previous)
    state = read_state(layout)
    bad_versions = sorted(set(state.get("bad_versions", [])) | {bad})
    update_state(layout, bad_versions=bad_versions, failed_starts=0, version=previous.name)
    LOG.error("rolled back from %s to %s: %s", bad, previous.name, reason)
    return previous.name


def record_start(layout: DeviceLayout, max_failed_starts: int = 3) -> int:
    """Count a start of the current release; roll back first if it failed too often.

    Returns:
        The failed-start count recorded for this start (reset by :func:`start_succeeded`).
    """
    failed = int(read_state(layout).get("failed_starts", 0))
    if failed >= max_failed_starts:
        rollback(layout, f"{failed} failed starts in a row")
        failed = 0
    update_state(layout, failed_starts=failed + 1)
    return failed + 1


def start_succeeded(layout: DeviceLayout) -> None:
    """Mark the running release as started (its first frame processed)."""
    update_state(layout, failed_starts=0)


def start_not_counted(layout: DeviceLayout) -> None:
    """Take back the count of a start that failed for a reason outside the release."""
    failed = int(read_state(layout).get("failed_starts", 0))
    update_state(layout, failed_starts=max(0, failed - 1))
