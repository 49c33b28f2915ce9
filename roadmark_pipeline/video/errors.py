"""Errors of video ingestion, each naming the file and the fix."""

from __future__ import annotations


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
