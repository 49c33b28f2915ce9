"""Still images as one-frame sources, turned upright by their EXIF orientation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from roadmark_pipeline.video.errors import UnreadableSourceError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})

# EXIF orientation -> clockwise degrees that make the image upright. 2, 4, 5 and 7 also mirror
# the image; the mirror is applied but only the rotation part is reported.
_ORIENTATION_DEGREES = {1: 0, 2: 0, 3: 180, 4: 180, 5: 90, 6: 90, 7: 270, 8: 270}
_ORIENTATION_TAG = 0x0112
_IMAGE_FIX = "pass a JPEG or PNG image, or a video with H.264/H.265"


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
    if not path.is_file():
        raise UnreadableSourceError(f"{path}: no such file; check the path")
    if path.stat().st_size == 0:
        raise UnreadableSourceError(f"{path}: empty file (0 bytes); copy the image again")
    try:
        with Image.open(path) as image:
            image.load()
            exif = image.getexif()
            upright = ImageOps.exif_transpose(image).convert("RGB")
            codec = (image.format or path.suffix.lstrip(".")).lower()
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise UnreadableSourceError(
            f"{path}: not a readable image ({error}); {_IMAGE_FIX}"
        ) from error

    rgb = np.asarray(upright, dtype=np.uint8)
    tags = {ExifTags.TAGS.get(key, str(key)): str(value) for key, value in exif.items()}
    return Still(
        bgr=np.ascontiguousarray(rgb[:, :, ::-1]),
        codec=codec,
        rotation=_ORIENTATION_DEGREES.get(int(exif.get(_ORIENTATION_TAG, 1) or 1), 0),
        tags=tags,
    )
