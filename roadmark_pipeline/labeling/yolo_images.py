"""The images of a YOLO export: found under a local folder, sized, and linked beside the labels.

A Label Studio task names its image by URL: ``/data/local-files/?d=<path under the document
root>`` for our lake frames, ``/data/upload/<project>/<file>`` for uploads. Given the folder the
images live in, each reference is looked up there (by its path, then by its file name) and only
inside that folder.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from roadmark_pipeline.labeling.geometry import TRANSPOSING_ORIENTATIONS
from roadmark_pipeline.labeling.results import exif_orientation
from roadmark_pipeline.video.errors import UnreadableSourceError
from roadmark_pipeline.video.still import open_image

LOG = logging.getLogger(__name__)


def image_path(task: dict[str, Any]) -> PurePosixPath:
    """The image path of a task: the ``d=`` of a local-files URL, else the URL's path.

    Args:
        task: A task of a Label Studio export.

    Returns:
        The path (``PurePosixPath("task<id>")`` when the task has no image).
    """
    data = task.get("data")
    reference = str((data if isinstance(data, dict) else {}).get("image") or "")
    parsed = urlparse(reference)
    local = parse_qs(parsed.query).get("d")
    path = unquote(local[0] if local else parsed.path)
    return PurePosixPath(path) if path else PurePosixPath(f"task{task.get('id')}")


def find_image(task: dict[str, Any], image_root: Path) -> Path | None:
    """The file of a task's image under ``image_root``: by its path there, else by its name.

    Args:
        task: A task of a Label Studio export.
        image_root: The folder holding the images (the Label Studio document root, or a flat
            folder of the image files).

    Returns:
        The file, or None when neither candidate exists inside ``image_root``.
    """
    root = image_root.resolve()
    path = image_path(task)
    relative = PurePosixPath(*[part for part in path.parts if part not in ("/", "")])
    for candidate in (root / relative, root / path.name):
        resolved = candidate.resolve()
        if resolved.is_relative_to(root) and resolved.is_file():
            return resolved
    return None


def upright_size(path: Path) -> tuple[int, int] | None:
    """Width and height of an image as shown (EXIF orientation applied), read from its header.

    Args:
        path: The image file.

    Returns:
        ``(width, height)``, or None when the file is not a readable image.
    """
    try:
        with open_image(path) as image:
            width, height = image.size
    except (UnreadableSourceError, OSError, SyntaxError):
        return None
    if exif_orientation(path) in TRANSPOSING_ORIENTATIONS:
        return height, width
    return width, height


def with_image_sizes(task: dict[str, Any], image: Path | None) -> dict[str, Any]:
    """The task with ``data.width/height`` read from its image where the task lacks them.

    Args:
        task: A task of a Label Studio export (not changed).
        image: Its image file, or None.

    Returns:
        The same task, or a copy whose ``data`` carries the image's upright size.
    """
    data = task.get("data")
    if image is None or not isinstance(data, dict):
        return task
    if _positive(data.get("width")) and _positive(data.get("height")):
        return task
    size = upright_size(image)
    if size is None:
        return task
    return {**task, "data": {**data, "width": size[0], "height": size[1]}}


def place_image(source: Path, target: Path) -> None:
    """Hard-link ``source`` to ``target`` (a copy across file systems).

    Args:
        source: The image file.
        target: Its place in the export's ``images/`` staging folder.
    """
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0
