"""Which camera filmed a source: container tags, EXIF, or a sidecar ``<stem>.json``."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path

from roadmark_pipeline.video.errors import SidecarError

LOG = logging.getLogger(__name__)

# Tag names seen in phone and dashcam containers (QuickTime keys, Android, plain MP4 udta).
MAKE_TAGS = ("com.apple.quicktime.make", "com.android.manufacturer", "make", "manufacturer")
MODEL_TAGS = ("com.apple.quicktime.model", "com.android.model", "model")


def camera_from_tags(*tag_sets: Mapping[str, str]) -> tuple[str | None, str | None]:
    """Read the camera make and model from container or EXIF tags.

    Args:
        *tag_sets: Tag dictionaries (container, then stream); names compare case-insensitively
            and the first non-empty value wins.

    Returns:
        ``(make, model)``, each None when no tag names it.
    """
    lowered = [
        {str(key).lower(): str(value).strip() for key, value in tags.items()} for tags in tag_sets
    ]
    return _first(lowered, MAKE_TAGS), _first(lowered, MODEL_TAGS)


def sidecar_path(source: Path) -> Path:
    """Return where the camera sidecar of ``source`` would be: ``<stem>.json`` beside it."""
    return source.with_suffix(".json")


def camera_from_sidecar(source: Path) -> tuple[str | None, str | None] | None:
    """Read ``{"camera_make": ..., "camera_model": ...}`` from the sidecar, when there is one.

    Args:
        source: The video or still; its sidecar is ``<stem>.json`` in the same folder.

    Returns:
        ``(make, model)`` (either may be None), or None when there is no sidecar.

    Raises:
        SidecarError: When the sidecar exists but is not a JSON object.
    """
    sidecar = sidecar_path(source)
    if not sidecar.is_file():
        return None
    try:
        value = json.loads(sidecar.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SidecarError(
            f"{sidecar}: not valid JSON ({error}); write "
            '{"camera_make": "...", "camera_model": "..."} or remove the file'
        ) from error
    if not isinstance(value, dict):
        raise SidecarError(
            f"{sidecar}: expected a JSON object, got {type(value).__name__}; write "
            '{"camera_make": "...", "camera_model": "..."}'
        )
    return _clean(value.get("camera_make")), _clean(value.get("camera_model"))


def resolve_camera(source: Path, *tag_sets: Mapping[str, str]) -> tuple[str | None, str | None]:
    """Return the camera make and model: the sidecar when present, else the tags.

    A sidecar is written by a person who knows the camera, so it wins over tags; a field it
    leaves out still comes from the tags.

    Args:
        source: The video or still.
        *tag_sets: Its container/stream tags or EXIF fields.

    Returns:
        ``(make, model)``, each None when nothing names it.
    """
    tag_make, tag_model = camera_from_tags(*tag_sets)
    sidecar = camera_from_sidecar(source)
    if sidecar is None:
        return tag_make, tag_model
    LOG.info("%s: camera from sidecar %s", source.name, sidecar_path(source).name)
    return sidecar[0] or tag_make, sidecar[1] or tag_model


def _first(tag_sets: list[dict[str, str]], names: tuple[str, ...]) -> str | None:
    for tags in tag_sets:
        for name in names:
            if tags.get(name):
                return tags[name]
    return None


def _clean(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None
