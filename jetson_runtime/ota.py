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

The pieces live beside this module: :mod:`jetson_runtime.ota_steps` (the refusal error and the
crash-test hook, ``ROADMARK_EDGE_CRASH_AT=<step>``), :mod:`jetson_runtime.tuf_client` (metadata
and downloads), :mod:`jetson_runtime.slot_runtime` (a slot's own runtime and its health check)
and :mod:`jetson_runtime.starts` (failed-start counting and rollback).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tuf.ngclient import Updater

from jetson_runtime.bundle import load_bundle, version_key
from jetson_runtime.ota_steps import CRASH_ENV, STEPS, UpdateError, checkpoint
from jetson_runtime.parquet import UTC
from jetson_runtime.slot_runtime import (
    IN_SLOT_ENV,
    install_runtime,
    run_health_check,
    slot_command,
    slot_env,
)
from jetson_runtime.slots import (
    BUNDLE_DIR,
    RUNTIME_DIR,
    DeviceLayout,
    missing_folders,
    point,
    read_state,
    remove_empty_folders,
    update_state,
)
from jetson_runtime.starts import record_start, start_not_counted, start_succeeded
from jetson_runtime.trust import (
    TRUSTED_ROOT,
    TrustPlan,
    clear_leftovers,
    commit_trust,
    has_stored_root,
    plan_trust,
    read_offered_root,
)
from jetson_runtime.tuf_client import download, open_updater, read_pointer, release_target

__all__ = [
    "CRASH_ENV",
    "IN_SLOT_ENV",
    "STEPS",
    "UpdateError",
    "UpdateResult",
    "record_start",
    "slot_command",
    "slot_env",
    "start_not_counted",
    "start_succeeded",
    "update",
]

LOG = logging.getLogger(__name__)


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


@contextmanager
def _single_updater(layout: DeviceLayout) -> Iterator[None]:
    layout.root.mkdir(parents=True, exist_ok=True)
    with open(layout.root / ".update.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UpdateError("busy", f"{layout.root}: another update is running") from None
        yield


def _fetch_release(updater: Updater, version: str, files: list[str], stage: Path) -> None:
    """Download every file of a release and check it is one consistent bundle."""
    for name in files:
        download(updater, release_target(version, name), stage / BUNDLE_DIR / name)
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


def _open_trusted(
    layout: DeviceLayout, trust: TrustPlan, repo_url: str, downloads: Path, source: str
) -> Updater:
    """Refresh the metadata with the planned root; store a new root once it has verified."""
    try:
        updater = open_updater(trust.metadata_dir, repo_url, trust.root, downloads)
    except UpdateError as exc:
        if trust.provision and exc.reason == "forged":
            raise UpdateError(
                "forged",
                f"{exc}. The --trusted-root {source} does not sign this repository's metadata "
                "and was not stored: pass this repository's own root",
            ) from exc
        raise
    commit_trust(layout, trust)
    return updater


def _install(
    layout: DeviceLayout,
    repo_url: str,
    channel: str,
    offered: bytes | None,
    *,
    source: str,
    reprovision: bool,
    allow_downgrade: bool,
) -> UpdateResult:
    """The update itself, under the updater lock (see :func:`update`)."""
    layout.staging.mkdir(parents=True, exist_ok=True)
    clear_leftovers(layout)
    stage = layout.staging / f"{uuid.uuid4().hex[:12]}"
    workdir = stage.with_name(f"{stage.name}-tuf")
    trust = plan_trust(layout, offered, source, workdir, reprovision=reprovision)
    try:
        updater = _open_trusted(layout, trust, repo_url, stage / "downloads", source)
        checkpoint("refreshed")
        version, files = read_pointer(updater, channel, stage)
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
        shutil.rmtree(workdir, ignore_errors=True)
    update_state(
        layout, failed_starts=0, last_update=datetime.now(UTC).isoformat(), version=version
    )
    for leftover in layout.staging.iterdir():
        shutil.rmtree(leftover, ignore_errors=True)
    LOG.info("updated to %s (previous %s) from channel %s", version, previous, channel)
    return UpdateResult("updated", version, previous, channel)


def update(
    device_dir: Path,
    repo_url: str,
    *,
    channel: str = "stable",
    trusted_root: Path | None = None,
    reprovision: bool = False,
    allow_downgrade: bool = False,
) -> UpdateResult:
    """Update the device to the release its channel points at, if it is newer and healthy.

    Args:
        device_dir: The device folder.
        repo_url: The TUF repository's base URL (``metadata/`` and ``targets/`` below it).
        channel: ``stable`` or ``canary``.
        trusted_root: The root metadata to trust: needed on the first update, accepted again
            when it is the root already trusted, and replacing a stored root that is invalid.
        reprovision: Let ``trusted_root`` replace a different, valid stored root (see
            :mod:`jetson_runtime.trust`).
        allow_downgrade: Accept a release older than the running one.

    Returns:
        What was done.

    Raises:
        UpdateError: When the update is refused or fails; the running release is untouched, and
            a device folder this call created (and the parents it created for it) is removed
            again unless a root was stored in it.
        StateError: When the device's ``state.json`` is damaged (nothing is done).
    """
    layout = DeviceLayout(Path(device_dir))
    read_state(layout)  # a damaged state.json stops it: its bad versions must not be forgotten
    offered = read_offered_root(trusted_root) if trusted_root is not None else None
    if offered is None and not has_stored_root(layout):
        raise UpdateError(
            "no_root", f"{layout.root}: no trusted root; pass --trusted-root FILE once"
        )
    created = missing_folders(layout.root)  # the device folder and parents this call makes
    with _single_updater(layout):
        try:
            return _install(
                layout,
                repo_url,
                channel,
                offered,
                source=str(trusted_root),
                reprovision=reprovision,
                allow_downgrade=allow_downgrade,
            )
        except BaseException:
            # A first update that stored no root leaves no folder behind, nor the parents it
            # created. Only the holder of the lock removes them, never an updater refused as
            # busy; folders that existed before are never touched.
            if created and not (layout.tuf_dir / TRUSTED_ROOT).exists():
                shutil.rmtree(layout.root, ignore_errors=True)
                remove_empty_folders(created[1:])
            raise
