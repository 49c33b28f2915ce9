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
import shutil
import tempfile
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


@contextmanager
def staged_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``final`` that replaces it only if the block succeeds.

    The previous content of ``final`` stays in place until the new one is complete, and is
    removed only after the swap.

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
    stage = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    stage.chmod(0o777 & ~_umask())  # mkdtemp makes 0700; the folder is for everyone who reads
    try:
        yield stage
        old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
        if final.exists():
            os.replace(final, old)
        os.replace(stage, final)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
