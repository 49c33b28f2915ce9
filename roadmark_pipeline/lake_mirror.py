"""A local mirror of a lake kept in an object store (``s3://`` and other fsspec URLs).

Training, video decoding, Label Studio and the TUF tooling need real files. When the lake lives
in an object store, a step pulls the prefixes it reads into a local mirror, works there, and
pushes what it wrote back. Every object is one PUT, so a reader of the store never sees a
half-written file. The mirror's location is fixed per machine (``$ROADMARK_LAKE_MIRROR``, else
``$ROADMARK_HOME/lake-mirror``), so paths recorded in tables resolve on every worker that shares
that setting.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from upath import UPath

from roadmark_pipeline.settings import roadmark_home

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncCount:
    """What one pull or push moved.

    Attributes:
        copied: Files transferred.
        removed: Files deleted on the receiving side (only when pruning).
        unchanged: Files already identical by size (pull) or untouched and present (push).
    """

    copied: int
    removed: int
    unchanged: int


def mirror_root(remote_root: UPath) -> Path:
    """Return the local folder that mirrors ``remote_root``.

    Args:
        remote_root: The lake root in the object store.

    Returns:
        ``$ROADMARK_LAKE_MIRROR`` when set, else ``$ROADMARK_HOME/lake-mirror``, followed by the
        URL's protocol and path, so two lakes never share a mirror.
    """
    base = os.environ.get("ROADMARK_LAKE_MIRROR") or str(roadmark_home() / "lake-mirror")
    protocol = remote_root.protocol or "remote"
    return Path(base).expanduser() / protocol / remote_root.path.strip("/")


def remote_files(remote: UPath) -> dict[str, int]:
    """Return ``relative key -> size`` for every object under ``remote`` (a prefix or a file)."""
    fs, base = remote.fs, remote.path.rstrip("/")
    fs.invalidate_cache(base)
    if fs.isfile(base):
        return {"": int(fs.info(base).get("size") or 0)}
    found = fs.find(base, detail=True) if fs.exists(base) else {}
    files = {}
    for full, info in found.items():
        if info.get("type", "file") != "file":
            continue
        files[full[len(base) :].lstrip("/")] = int(info.get("size") or 0)
    return files


def _local_files(local: Path) -> dict[str, Path]:
    """Return ``relative key -> path`` for every file under ``local`` (a folder or a file)."""
    if local.is_file():
        return {"": local}
    if not local.is_dir():
        return {}
    return {
        path.relative_to(local).as_posix(): path
        for path in local.rglob("*")
        if path.is_file() and not path.name.endswith(".tmp")
    }


def _join(base: str, key: str) -> str:
    return f"{base.rstrip('/')}/{key}" if key else base


def pull(remote: UPath, local: Path, prune: bool = False) -> SyncCount:
    """Copy objects under ``remote`` that are missing locally or differ in size.

    Each file lands under a temporary name and is renamed into place.

    Args:
        remote: A prefix (or one object) in the store.
        local: Its place in the mirror.
        prune: Also delete local files the store no longer has (for prefixes one step owns).

    Returns:
        The counts moved.
    """
    fs, base = remote.fs, remote.path
    wanted = remote_files(remote)
    present = _local_files(local)
    copied = 0
    for key, size in wanted.items():
        target = local if not key else local / key
        if key in present and present[key].stat().st_size == size:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            fs.get_file(_join(base, key), str(tmp))
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        copied += 1
    removed = 0
    if prune:
        for key in sorted(set(present) - set(wanted)):
            present[key].unlink(missing_ok=True)
            removed += 1
    unchanged = len(wanted) - copied
    LOG.info("pulled %s: %d copied, %d removed, %d unchanged", remote, copied, removed, unchanged)
    return SyncCount(copied, removed, unchanged)


def push(local: Path, remote: UPath, since: float | None = None, prune: bool = False) -> SyncCount:
    """Upload local files that the store lacks, that differ in size, or that changed.

    Args:
        local: A folder (or file) in the mirror.
        remote: Its place in the store.
        since: Files modified at or after this time (seconds since the epoch) are uploaded even
            when the store has an object of the same size; None uploads only missing or resized.
        prune: Also delete objects under ``remote`` that the local folder no longer has (for
            prefixes one step rebuilds whole).

    Returns:
        The counts moved.
    """
    fs, base = remote.fs, remote.path
    stored = remote_files(remote)
    present = _local_files(local)
    copied = 0
    for key, path in sorted(present.items()):
        stat = path.stat()
        fresh = since is not None and stat.st_mtime >= since
        if key in stored and stored[key] == stat.st_size and not fresh:
            continue
        fs.put_file(str(path), _join(base, key))
        copied += 1
    removed = 0
    if prune:
        stale = [_join(base, key) for key in sorted(set(stored) - set(present))]
        if stale:
            fs.rm(stale)
        removed = len(stale)
    fs.invalidate_cache()
    LOG.info("pushed %s: %d copied, %d removed", remote, copied, removed)
    return SyncCount(copied, removed, len(present) - copied)


def now_for_push() -> float:
    """Return a start time for :func:`push` that tolerates coarse file-system timestamps."""
    return time.time() - 2.0
