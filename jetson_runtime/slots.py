"""The device folder: release slots, the ``current``/``previous`` pointers and the device state.

Layout of a device folder::

    releases/<version>/bundle/    the verified bundle (manifest, model, config, probe, wheel)
    releases/<version>/runtime/   that release's jetson_runtime, unpacked from its wheel
    current -> releases/<v>       symlink, replaced atomically (rename over the old link)
    previous -> releases/<v>      the release that ran before; never evicted
    tuf/                          the TUF client's trusted metadata
    staging/                      downloads in progress (safe to delete at any time)
    spool/  evidence/  engine_cache/
    state.json                    channel, failed starts, bad versions, last update

Every write is a temporary file or link renamed into place, so a power cut leaves the old or the
new value, never a mix.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATE_FILE = "state.json"
BUNDLE_DIR = "bundle"
RUNTIME_DIR = "runtime"


@dataclass(frozen=True)
class DeviceLayout:
    """Paths inside one device folder.

    Attributes:
        root: The device folder.
    """

    root: Path

    @property
    def releases(self) -> Path:
        """Folder of release slots."""
        return self.root / "releases"

    @property
    def current_link(self) -> Path:
        """The pointer to the running release."""
        return self.root / "current"

    @property
    def previous_link(self) -> Path:
        """The pointer to the release that ran before."""
        return self.root / "previous"

    @property
    def tuf_dir(self) -> Path:
        """The TUF client's metadata."""
        return self.root / "tuf"

    @property
    def staging(self) -> Path:
        """Downloads in progress."""
        return self.root / "staging"

    @property
    def spool(self) -> Path:
        """Telemetry spool."""
        return self.root / "spool"

    @property
    def evidence(self) -> Path:
        """Anonymised evidence frames."""
        return self.root / "evidence"

    @property
    def engine_cache(self) -> Path:
        """TensorRT engine caches."""
        return self.root / "engine_cache"

    def slot(self, version: str) -> Path:
        """The slot folder of a release version."""
        return self.releases / version

    def _target(self, link: Path) -> Path | None:
        try:
            target = os.readlink(link)
        except OSError:
            return None
        path = (link.parent / target).resolve()
        return path if path.is_dir() else None

    def current(self) -> Path | None:
        """The running release's slot, or None before the first install."""
        return self._target(self.current_link)

    def previous(self) -> Path | None:
        """The release that ran before, or None."""
        return self._target(self.previous_link)

    def current_version(self) -> str | None:
        """The running release's version."""
        slot = self.current()
        return slot.name if slot else None

    def previous_version(self) -> str | None:
        """The previous release's version."""
        slot = self.previous()
        return slot.name if slot else None

    def protected(self) -> set[Path]:
        """Slots that must never be removed: the current and the previous release."""
        return {p for p in (self.current(), self.previous()) if p is not None}


def point(link: Path, slot: Path) -> None:
    """Make ``link`` point at ``slot`` atomically (new link under a temp name, then rename)."""
    tmp = link.with_name(f".{link.name}.{uuid.uuid4().hex[:8]}.tmp")
    os.symlink(os.path.relpath(slot, link.parent), tmp)
    os.replace(tmp, link)
    _fsync_dir(link.parent)


def missing_folders(path: Path) -> list[Path]:
    """Return ``path`` and those of its parents that do not exist yet, deepest first.

    Taken before a command creates the device folder, it says which folders that command made
    itself, so that a failure removes those and never one that was there before.
    """
    missing = []
    for folder in (path, *path.parents):
        if folder.exists() or folder.is_symlink():
            break
        missing.append(folder)
    return missing


def remove_empty_folders(folders: list[Path]) -> None:
    """Remove ``folders`` (deepest first) while they are empty; stop at one holding anything.

    Args:
        folders: Folders a command created, as :func:`missing_folders` listed them. One already
            gone is skipped; one that is not empty stays, and so do its parents.
    """
    for folder in folders:
        try:
            folder.rmdir()
        except FileNotFoundError:
            continue
        except OSError:
            return


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class StateError(ValueError):
    """A ``state.json`` that exists but does not read as the device state.

    It holds the device id, the failed starts and the versions rolled back; starting afresh
    would forget them (and let an update reinstall a bad version), so it is never overwritten.
    """


def _damaged(layout: DeviceLayout, why: str) -> StateError:
    path = layout.root / STATE_FILE
    return StateError(
        f"{path}: damaged ({why}); it was left as it is. Restore it from a backup, or move it "
        f"away and re-provision with 'roadmark-edge update --repo URL --device-dir {layout.root} "
        "--trusted-root root.json' (the device then forgets its bad versions)"
    )


def read_state(layout: DeviceLayout) -> dict[str, Any]:
    """Return the device state (empty before the first update).

    Raises:
        StateError: When ``state.json`` exists but cannot be read or is not a JSON object.
    """
    path = layout.root / STATE_FILE
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise _damaged(layout, f"cannot read it: {exc}") from exc
    try:
        state = json.loads(text)
    except ValueError as exc:
        raise _damaged(layout, f"not JSON: {exc}") from exc
    if not isinstance(state, dict):
        raise _damaged(layout, f"a JSON {type(state).__name__}, not an object")
    return state


def strict_json(value: Any) -> Any:
    """Return ``value`` with every NaN or infinite float replaced by None (strict JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: strict_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(item) for item in value]
    return value


def write_state(layout: DeviceLayout, state: dict[str, Any]) -> None:
    """Replace the device state atomically (temp name + rename); NaN is written as null."""
    layout.root.mkdir(parents=True, exist_ok=True)
    target = layout.root / STATE_FILE
    tmp = target.with_name(f".{STATE_FILE}.{uuid.uuid4().hex[:8]}.tmp")
    text = json.dumps(strict_json(state), indent=2, sort_keys=True, allow_nan=False)
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def update_state(layout: DeviceLayout, **changes: Any) -> dict[str, Any]:
    """Apply ``changes`` to the device state and return the new state."""
    state = read_state(layout)
    state.update(changes)
    write_state(layout, state)
    return state
