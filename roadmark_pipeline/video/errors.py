"""Errors of video ingestion, each naming the file and the fix."""

from __future__ import annotations

import stat
from pathlib import Path


class UnreadableSourceError(ValueError):
    """A source that cannot be ingested: not a video, empty, no video stream, nothing decodes.

    The message reads ``"<file>: <what is wrong>; <the fix>"`` on one line, so the command line
    and the landing-zone quarantine can show it as it is.
    """


class SidecarError(ValueError):
    """A sidecar file (camera JSON, GPS track) next to a video that cannot be read.

    The video itself is fine, so this is deliberately not an :class:`UnreadableSourceError`:
    the landing zone must not quarantine a good video because of a bad sidecar.
    """


def check_source_file(path: Path, empty_fix: str) -> None:
    """Raise :class:`UnreadableSourceError` unless ``path`` is a regular file with content.

    Args:
        path: The source file.
        empty_fix: What to do about a 0-byte file (the sentence after ``empty file (0 bytes);``).

    Raises:
        UnreadableSourceError: When the path is missing, a folder, a device or pipe, cannot be
            looked at (name too long, no permission on a folder above it), or is empty.
    """
    try:
        status = path.stat()
    except FileNotFoundError:
        raise UnreadableSourceError(f"{path}: no such file; check the path") from None
    except OSError as error:
        raise UnreadableSourceError(
            f"{path}: cannot read it ({error.strerror or error}); check the path"
        ) from None
    if stat.S_ISDIR(status.st_mode):
        raise UnreadableSourceError(f"{path}: is a folder, not a file; pass one video or image")
    if not stat.S_ISREG(status.st_mode):
        raise UnreadableSourceError(
            f"{path}: not a regular file (a device, pipe or socket); pass a video or image file"
        )
    if status.st_size == 0:
        raise UnreadableSourceError(f"{path}: empty file (0 bytes); {empty_fix}")
