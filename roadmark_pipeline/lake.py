"""The lake: one root (a local folder or an ``s3://`` prefix) holding frames, tables and models.

Every write goes to a temporary name first and is renamed into place, so a reader never sees a
half-written file and a crash never destroys what was stored before. Object stores make a PUT
atomic on their own, so there the temporary step is skipped.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
from upath import UPath

LOG = logging.getLogger(__name__)


def is_local(path: UPath | Path) -> bool:
    """Return True when ``path`` is on the local file system."""
    return isinstance(path, Path) or getattr(path, "protocol", "") in ("", "file", "local")


def as_path(value: str | os.PathLike[str]) -> UPath | Path:
    """Turn a string into a local ``Path`` or, for URLs such as ``s3://``, a ``UPath``."""
    text = os.fspath(value)
    if "://" in text and not text.startswith("file://"):
        return UPath(text)
    return Path(text.removeprefix("file://")).expanduser()


def write_bytes_atomic(path: UPath | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary sibling and a rename.

    Args:
        path: Destination; parent folders are created.
        data: The whole content.
    """
    if not is_local(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return
    local = Path(path)
    local.parent.mkdir(parents=True, exist_ok=True)
    tmp = local.with_name(f".{local.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, local)
    finally:
        tmp.unlink(missing_ok=True)


def copy_file_atomic(source: Path, target: UPath | Path) -> None:
    """Copy ``source`` to ``target`` through a temporary sibling and a rename.

    The content is streamed, so a large file is never held in memory whole.

    Args:
        source: The local file to copy.
        target: Destination; parent folders are created and a file already there is replaced
            only once the copy is complete.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    if not is_local(target):
        with open(source, "rb") as reader, target.open("wb") as writer:
            shutil.copyfileobj(reader, writer)
        return
    local = Path(target)
    tmp = local.with_name(f".{local.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(source, "rb") as reader, open(tmp, "wb") as writer:
            shutil.copyfileobj(reader, writer)
            writer.flush()
            os.fsync(writer.fileno())
        os.replace(tmp, local)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: UPath | Path, text: str) -> None:
    """Write UTF-8 text atomically (see :func:`write_bytes_atomic`)."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: UPath | Path, value: Any) -> None:
    """Write ``value`` as indented, key-sorted JSON atomically."""
    write_text_atomic(path, json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")


def write_parquet_atomic(path: UPath | Path, frame: pd.DataFrame) -> None:
    """Write a DataFrame as Parquet atomically.

    Args:
        path: Destination ``.parquet`` file.
        frame: The table; its index is dropped.
    """
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    write_bytes_atomic(path, buffer.getvalue())


def read_parquet(path: UPath | Path) -> pd.DataFrame:
    """Read a Parquet file written by :func:`write_parquet_atomic`."""
    with path.open("rb") as handle:
        return pd.read_parquet(handle)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Staging and swapped-out folders of staged_dir carry their owner, so a later run can tell the
# leftovers of a killed run from another writer's live stage: .<name>.stage-<host>-<pid>-<random>
# and .<name>.old-<host>-<pid>-<random>. Older versions wrote .<name>.<random> (mkdtemp's eight
# characters) and .<name>.old-<hex8>, without an owner.
STALE_UNOWNED_S = 3600.0  # an owner we cannot check (other host, old name): untouched this long
STALE_LIVE_PID_S = 24 * 3600.0  # a live pid untouched this long is a reused pid, not the writer
_RANDOM = "[a-z0-9_]{8}"


def _host_tag() -> str:
    return re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:20] or "host"


def _owner_tag() -> str:
    return f"{_host_tag()}-{os.getpid()}-"


def _leftover_pattern(name: str) -> re.Pattern[str]:
    owned = rf"(?:stage|old)-(?P<host>[A-Za-z0-9]+)-(?P<pid>\d+)-{_RANDOM}"
    return re.compile(rf"\.{re.escape(name)}\.(?:{owned}|old-[0-9a-f]{{8}}|{_RANDOM})")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    try:  # a killed child its parent has not reaped yet is a zombie: gone for our purpose
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def _untouched_s(folder: Path) -> float:
    """Seconds since anything in ``folder`` (itself or a direct entry) last changed."""
    newest = folder.stat().st_mtime
    with os.scandir(folder) as entries:
        for entry in entries:
            newest = max(newest, entry.stat(follow_symlinks=False).st_mtime)
    return time.time() - newest


def _is_stale(match: re.Match[str], folder: Path) -> bool:
    """True when the folder's writer is gone: its local pid is dead, or it is long untouched."""
    pid = match.group("pid")
    if pid is not None and match.group("host") == _host_tag():
        if int(pid) == os.getpid():
            return False  # this process's own stage (another thread may be writing it)
        if not _process_alive(int(pid)):
            return True
        return _untouched_s(folder) > STALE_LIVE_PID_S
    return _untouched_s(folder) > STALE_UNOWNED_S


def remove_stale_stages(final: Path) -> list[Path]:
    """Remove what killed runs of :func:`staged_dir` left beside ``final``.

    Only folders named like staged_dir's own staging and swapped-out folders of this very
    target are looked at, and only those whose writer is gone are removed: a pid on this host
    that no longer runs, or, when the owner cannot be checked (another host, a name from before
    owners were recorded), a folder untouched for :data:`STALE_UNOWNED_S`. A concurrent writer's
    live stage is left alone.

    Args:
        final: The target folder; its parent is searched.

    Returns:
        The folders removed.
    """
    pattern, removed = _leftover_pattern(final.name), []
    try:
        candidates = [entry for entry in final.parent.iterdir() if pattern.fullmatch(entry.name)]
    except OSError:
        return removed
    for entry in candidates:
        try:
            if entry.is_symlink() or not entry.is_dir():
                continue
            stale = _is_stale(pattern.fullmatch(entry.name), entry)  # type: ignore[arg-type]
        except OSError:  # removed meanwhile by its writer or another cleaner
            continue
        if stale and ".old-" in entry.name and not final.exists():
            # Killed between the two renames of a swap: the previous content is whole; put
            # it back rather than lose it.
            os.replace(entry, final)
            LOG.warning("%s was missing: restored the previous content from %s", final, entry)
        elif stale:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    if removed:
        LOG.info("removed %d staging folders of %s left by killed runs", len(removed), final)
    return removed


@contextmanager
def staged_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``final`` that replaces it only if the block succeeds.

    The previous content of ``final`` stays in place until the new one is complete, and is
    removed only after the swap. The stage is named ``.<name>.stage-<host>-<pid>-<random>``;
    stages of the same target left by killed runs are removed first
    (:func:`remove_stale_stages`).

    Args:
        final: The local folder to (re)build.

    Yields:
        An empty folder to fill.

    Raises:
        FileExistsError: When ``final`` is a file (it is never renamed away or replaced).
    """
    if final.exists() and not final.is_dir():
        raise FileExistsError(f"{final} is a file; pass a folder to (re)build, or remove the file")
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_stages(final)
    owner = _owner_tag()
    stage = Path(tempfile.mkdtemp(prefix=f".{final.name}.stage-{owner}", dir=final.parent))
    stage.chmod(0o777 & ~_umask())  # mkdtemp makes 0700; the folder is for everyone who reads
    try:
        yield stage
        old = final.with_name(f".{final.name}.old-{owner}{uuid.uuid4().hex[:8]}")
        if final.exists():
            os.replace(final, old)
        os.replace(stage, final)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
