"""The landing zone as a library: list what landed, wait until it stops growing, quarantine.

Works on a local folder or any fsspec URL (``s3://bucket/prefix``, ``memory://...``). The
Dagster sensor calls these once per tick and keeps the sizes it saw in its cursor:

    entries = list_landing(root)
    ready, growing = stable_entries(entries, cursor_sizes)
    cursor_sizes = sizes_of(entries)

Hidden files and folders (a leading dot), partial uploads (``.part``, ``.tmp``, ...) and
sidecars (``.json``, ``.gpx``, ``.nmea``, ``.csv``, ``.txt``) are not listed as sources; keep
the quarantine folder outside the root or hidden (``<root>/.quarantine``).
"""

from __future__ import annotations

import hashlib
import logging
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import fsspec
from fsspec.spec import AbstractFileSystem

LOG = logging.getLogger(__name__)

PARTIAL_SUFFIXES = (".part", ".partial", ".tmp", ".crdownload", ".download", "~")
SIDECAR_SUFFIXES = (".json", ".gpx", ".nmea", ".csv", ".txt")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class LandingEntry:
    """One file in the landing zone.

    Attributes:
        key: Where to open it: a local path, or a URL with its protocol (``s3://b/k.mp4``).
        size: Bytes.
        mtime: Last modification as Unix seconds, when the file system says.
    """

    key: str
    size: int
    mtime: float | None


def list_landing(root: str, *, include_sidecars: bool = False) -> list[LandingEntry]:
    """List the candidate sources under ``root``, sorted by key.

    Args:
        root: A local folder or an fsspec URL; a root that does not exist lists nothing.
        include_sidecars: Also list ``.json``/``.gpx``/``.nmea``/``.csv``/``.txt`` files.

    Returns:
        One entry per file, recursively.
    """
    fs, base = fsspec.core.url_to_fs(root)
    if not fs.exists(base):
        LOG.info("landing root %s does not exist yet: nothing landed", root)
        return []
    found: dict[str, dict[str, Any]] = fs.find(base, detail=True)
    entries = []
    for path, details in sorted(found.items()):
        relative = posixpath.relpath(path, fs._strip_protocol(base))
        if not _is_candidate(relative, include_sidecars):
            continue
        entries.append(LandingEntry(_key(fs, path), int(details.get("size") or 0), _mtime(details)))
    return entries


def stable_entries(
    entries: Iterable[LandingEntry], previous_sizes: Mapping[str, int]
) -> tuple[list[LandingEntry], list[LandingEntry]]:
    """Split entries into those ready to ingest and those possibly still being written.

    A file is ready only when its size equals the size seen on the previous tick; a file seen
    for the first time, or whose size changed, waits for the next tick.

    Args:
        entries: This tick's listing.
        previous_sizes: ``key -> size`` from the previous tick (:func:`sizes_of`).

    Returns:
        ``(ready, still_growing)``.
    """
    ready, growing = [], []
    for entry in entries:
        if previous_sizes.get(entry.key) == entry.size:
            ready.append(entry)
        else:
            growing.append(entry)
    if growing:
        LOG.info("%d landed files not settled yet (new or still growing)", len(growing))
    return ready, growing


def sizes_of(entries: Iterable[LandingEntry]) -> dict[str, int]:
    """Return ``key -> size`` for the next tick's :func:`stable_entries`."""
    return {entry.key: entry.size for entry in entries}


def content_sha256(key: str) -> str:
    """Hash a landed file's content through fsspec (the partition key is its first 16 chars).

    Args:
        key: A local path or URL, as in :attr:`LandingEntry.key`.

    Returns:
        64 lowercase hex characters.
    """
    digest = hashlib.sha256()
    with fsspec.open(key, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def quarantine(path: str, quarantine_dir: str, reason: str) -> str:
    """Move an unusable file into quarantine and write ``<name>.reason.txt`` beside it.

    Nothing is deleted: a name already in quarantine gets a numbered suffix, and across file
    systems the source is removed only after the copy has the same size.

    Args:
        path: The landed file (local path or URL).
        quarantine_dir: The quarantine folder (local path or URL).
        reason: One line: what is wrong and how to fix it.

    Returns:
        Where the file now is.
    """
    source_fs, source_path = fsspec.core.url_to_fs(path)
    target_fs, target_dir = fsspec.core.url_to_fs(quarantine_dir)
    target_fs.makedirs(target_dir, exist_ok=True)
    target = _free_name(target_fs, target_dir, posixpath.basename(source_path))

    if (
        type(source_fs) is type(target_fs)
        and source_fs.storage_options == target_fs.storage_options
    ):
        source_fs.mv(source_path, target)
    else:
        _copy_then_remove(source_fs, source_path, target_fs, target)
    target_fs.pipe_file(f"{target}.reason.txt", (" ".join(reason.split()) + "\n").encode())
    LOG.warning("quarantined %s -> %s: %s", path, target, reason)
    return _key(target_fs, target)


def _is_candidate(relative: str, include_sidecars: bool) -> bool:
    parts = relative.split("/")
    if any(part.startswith(".") for part in parts):
        return False
    name = parts[-1].lower()
    if name.endswith(PARTIAL_SUFFIXES):
        return False
    return include_sidecars or not name.endswith(SIDECAR_SUFFIXES)


def _key(fs: AbstractFileSystem, path: str) -> str:
    protocols = (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)
    return path if "file" in protocols or "local" in protocols else fs.unstrip_protocol(path)


def _mtime(details: Mapping[str, Any]) -> float | None:
    for name in ("mtime", "LastModified", "last_modified", "created"):
        value = details.get(name)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, int | float):
            return float(value)
    return None


def _free_name(fs: AbstractFileSystem, folder: str, name: str) -> str:
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    candidate, number = posixpath.join(folder, name), 1
    while fs.exists(candidate):
        tail = f".{suffix}" if suffix else ""
        candidate = posixpath.join(folder, f"{stem}-{number}{tail}")
        number += 1
    return candidate


def _copy_then_remove(
    source_fs: AbstractFileSystem, source: str, target_fs: AbstractFileSystem, target: str
) -> None:
    with source_fs.open(source, "rb") as reader, target_fs.open(target, "wb") as writer:
        for chunk in iter(lambda: reader.read(_CHUNK), b""):
            writer.write(chunk)
    if target_fs.size(target) != source_fs.size(source):
        raise OSError(f"{target}: copy is incomplete; the original {source} was left in place")
    source_fs.rm(source)
