"""Frame and source identifiers shared by every table."""

from __future__ import annotations

import hashlib
from pathlib import Path

SHA_PREFIX = 16
_CHUNK = 1 << 20


def sha256_file(path: str | Path) -> str:
    """Return the hex sha256 of a file's content.

    Args:
        path: The file to hash.

    Returns:
        64 lowercase hex characters.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def source_key(sha256: str) -> str:
    """Return the partition key of a source: the first 16 hex characters of its sha256."""
    return sha256[:SHA_PREFIX]


def frame_id(sha256: str, frame_index: int) -> str:
    """Return the frame id ``<sha256[:16]>/<frame index>`` that every table keys frames by.

    Args:
        sha256: The source video's sha256 (full or already shortened).
        frame_index: The frame's index in decode order.

    Returns:
        The frame id, for example ``"2d8e14b46fe89afb/12"``.
    """
    return f"{sha256[:SHA_PREFIX]}/{int(frame_index)}"


def split_frame_id(value: str) -> tuple[str, int]:
    """Split a frame id into its source key and frame index.

    Raises:
        ValueError: When ``value`` is not of the form ``<16 hex>/<int>``.
    """
    key, sep, index = value.partition("/")
    if not sep or len(key) != SHA_PREFIX or not index.isdigit():
        raise ValueError(f"bad frame id {value!r}; expected '<16 hex chars>/<frame index>'")
    return key, int(index)
