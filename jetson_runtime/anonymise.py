"""Anonymised evidence frames: faces and licence plates blurred before a frame is stored.

Detection uses OpenCV's Haar cascades (frontal and profile faces, plates), run on a copy scaled
to a fixed width, with a generous margin around each hit, and the regions are pixelated and then
blurred so nothing can be read back. A frame is never stored when the cascades cannot be loaded:
the evidence writer refuses instead of keeping a readable face.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

LOG = logging.getLogger(__name__)

CASCADES = (
    "haarcascade_frontalface_default.xml",
    "haarcascade_profileface.xml",
    "haarcascade_russian_plate_number.xml",
)
ANALYSIS_WIDTH = 960
MARGIN = 0.25
SEARCH_DIRS = (Path("/usr/share/opencv4/haarcascades"), Path("/usr/share/opencv/haarcascades"))


class AnonymiseError(RuntimeError):
    """Anonymisation cannot run here; nothing may be stored un-anonymised."""


def _cascade_dirs() -> list[Path]:
    dirs = []
    data = getattr(cv2, "data", None)
    if data is not None:
        dirs.append(Path(data.haarcascades))
    return dirs + list(SEARCH_DIRS)


def load_cascades(names: Sequence[str] = CASCADES) -> list[cv2.CascadeClassifier]:
    """Load the Haar cascades from OpenCV's data folder (or the JetPack one).

    Raises:
        AnonymiseError: When a cascade file is missing or does not load.
    """
    loaded = []
    for name in names:
        path = next((d / name for d in _cascade_dirs() if (d / name).is_file()), None)
        if path is None:
            raise AnonymiseError(
                f"{name}: not found in {[str(d) for d in _cascade_dirs()]}; install OpenCV's "
                "data files (opencv-python-headless or JetPack's opencv)"
            )
        cascade = cv2.CascadeClassifier(str(path))
        if cascade.empty():
            raise AnonymiseError(f"{path}: OpenCV could not load this cascade")
        loaded.append(cascade)
    return loaded


def obscure(bgr: npt.NDArray[np.uint8], xywh: tuple[int, int, int, int]) -> None:
    """Pixelate then blur one region in place so it cannot be read back."""
    x, y, w, h = xywh
    region = bgr[y : y + h, x : x + w]
    if region.size == 0:
        return
    small = cv2.resize(region, (max(1, w // 12), max(1, h // 12)), interpolation=cv2.INTER_AREA)
    coarse = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    kernel = max(3, (min(w, h) // 4) | 1)
    region[:] = cv2.GaussianBlur(coarse, (kernel, kernel), 0)


class Anonymiser:
    """Finds faces and plates and obscures them.

    Args:
        cascades: Loaded cascades; OpenCV's shipped ones when None.
    """

    def __init__(self, cascades: list[cv2.CascadeClassifier] | None = None) -> None:
        self.cascades = cascades if cascades is not None else load_cascades()

    def regions(self, bgr: npt.NDArray[np.uint8]) -> list[tuple[int, int, int, int]]:
        """Return the regions to obscure as (x, y, w, h) in frame pixels, margin included."""
        height, width = bgr.shape[:2]
        scale = min(1.0, ANALYSIS_WIDTH / width)
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        if scale < 1.0:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        gray = cv2.equalizeHist(gray)

        found = []
        for cascade in self.cascades:
            for x, y, w, h in cascade.detectMultiScale(gray, 1.15, 3, minSize=(20, 20)):
                mx, my = w * MARGIN, h * MARGIN
                x0, y0 = max(0, int((x - mx) / scale)), max(0, int((y - my) / scale))
                x1 = min(width, int((x + w + mx) / scale) + 1)
                y1 = min(height, int((y + h + my) / scale) + 1)
                found.append((x0, y0, x1 - x0, y1 - y0))
        return found

    def __call__(self, bgr: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.uint8], int]:
        """Return an anonymised copy of the frame and how many regions were obscured."""
        out = bgr.copy()
        found = self.regions(bgr)
        for region in found:
            obscure(out, region)
        return out, len(found)


def write_evidence(
    folder: Path, name: str, bgr: npt.NDArray[np.uint8], record: dict[str, object]
) -> Path:
    """Store an (already anonymised) frame as JPEG with its JSON record, both atomically.

    Args:
        folder: The evidence folder.
        name: File stem, unique per frame.
        bgr: The anonymised frame.
        record: Detections, time, GPS and the like; written beside the JPEG.

    Returns:
        The JPEG's path.
    """
    folder.mkdir(parents=True, exist_ok=True)
    ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise AnonymiseError(f"{name}: JPEG encoding failed")
    for suffix, data in ((".json", json.dumps(record).encode()), (".jpg", encoded.tobytes())):
        target = folder / f"{name}{suffix}"
        tmp = folder / f".{name}{suffix}.{uuid.uuid4().hex[:8]}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, target)
    return folder / f"{name}.jpg"
