"""Still images as one-frame sources, turned upright by their EXIF orientation."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import ExifTags, Image, ImageOps

from roadmark_pipeline.video.errors import UnreadableSourceError, check_source_file

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})

# EXIF orientation -> clockwise degrees that make the image upright. 2, 4, 5 and 7 also mirror
# the image; the mirror is applied but only the rotation part is reported.
_ORIENTATION_DEGREES = {1: 0, 2: 0, 3: 180, 4: 180, 5: 90, 6: 90, 7: 270, 8: 270}
_ORIENTATION_TAG = 0x0112
_IMAGE_FIX = "pass a JPEG or PNG image, or a video with H.264/H.265"

# First bytes of each still format we take -> the Pillow plugin that reads it.
_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"RIFF", "WEBP"),
)
# What Pillow raises on a file that starts like an image but is not one (or is cut short).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, IndexError, TypeError, EOFError, struct.error)


@dataclass(frozen=True)
class Still:
    """A decoded still image.

    Attributes:
        bgr: The upright pixels, (H, W, 3) uint8.
        codec: The image format in lower case (``"jpeg"``, ``"png"``).
        rotation: Clockwise degrees applied from the EXIF orientation.
        tags: EXIF fields by name (``Make``, ``Model``, ...), for camera make/model.
    """

    bgr: npt.NDArray[np.uint8]
    codec: str
    rotation: int
    tags: dict[str, str]


def is_still(path: Path) -> bool:
    """Return True when ``path`` names an image file by its suffix."""
    return path.suffix.lower() in IMAGE_SUFFIXES


def load_still(path: Path) -> Still:
    """Decode a still image and apply its EXIF orientation.

    Args:
        path: The image file.

    Returns:
        The upright image with its format, rotation and EXIF tags.

    Raises:
        UnreadableSourceError: When the file is missing, empty or not an image.
    """
    try:
        with open_image(path) as image:
            image.load()
            exif = image.getexif()
            upright = ImageOps.exif_transpose(image).convert("RGB")
            codec = (image.format or path.suffix.lstrip(".")).lower()
    except UnreadableSourceError:
        raise
    except _DECODE_ERRORS as error:
        raise UnreadableSourceError(
            f"{path}: not a readable image ({error}); {_IMAGE_FIX}"
        ) from error

    rgb = np.asarray(upright, dtype=np.uint8)
    tags = {ExifTags.TAGS.get(key, str(key)): str(value) for key, value in exif.items()}
    return Still(
        bgr=np.ascontiguousarray(rgb[:, :, ::-1]),
        codec=codec,
        rotation=_ORIENTATION_DEGREES.get(_orientation(exif), 0),
        tags=tags,
    )


def open_image(path: Path) -> Image.Image:
    """Open an image file with the Pillow plugin its first bytes name, not via ``Image.open``.

    Importing ultralytics replaces ``PIL.Image.open`` for the whole process; its version meets
    a file Pillow cannot identify by installing a HEIF plugin (``ModuleNotFoundError`` when
    offline). Choosing the plugin here gives the same answer whatever was imported before.
    Only the header is read; pixels decode on ``load()``.

    Args:
        path: The image file.

    Returns:
        The opened image (use it as a context manager to close the file).

    Raises:
        UnreadableSourceError: When the file is missing, empty, not a JPEG/PNG/BMP/TIFF/WebP,
            or its header does not parse.
    """
    path = Path(path)
    check_source_file(path, "copy the image again")
    with path.open("rb") as handle:
        prefix = handle.read(16)
    name = next((name for magic, name in _SIGNATURES if prefix.startswith(magic)), None)
    Image.init()
    factory, accept = Image.OPEN.get(name or "", (None, None))
    if factory is None or (accept is not None and not accept(prefix)):
        raise UnreadableSourceError(
            f"{path}: not a readable image (no JPEG, PNG, BMP, TIFF or WebP header); {_IMAGE_FIX}"
        )

    try:
        image = factory(str(path), str(path))
    except _DECODE_ERRORS as error:
        raise UnreadableSourceError(
            f"{path}: not a readable image ({error}); {_IMAGE_FIX}"
        ) from error
    limit = Image.MAX_IMAGE_PIXELS
    if limit and image.width * image.height > 2 * limit:
        image.close()
        raise UnreadableSourceError(
            f"{path}: {image.width}x{image.height} pixels is past Pillow's decompression-bomb "
            f"limit; pass a camera image of at most {limit} pixels"
        )
    return image


def _orientation(exif: Image.Exif) -> int:
    try:
        return int(exif.get(_ORIENTATION_TAG, 1) or 1)
    except (TypeError, ValueError):
        return 1
