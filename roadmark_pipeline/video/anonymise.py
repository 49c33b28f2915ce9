"""Faces and licence plates blurred before a frame leaves ingestion.

The detector sits behind the small :class:`Anonymiser` protocol, so a better model (a DNN face
detector, a plate detector trained on European plates) replaces the Haar cascades without
touching the sampler. :func:`anonymise_frame` does the blurring, whatever found the regions.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np
import numpy.typing as npt
import pandas as pd

LOG = logging.getLogger(__name__)

FACE_CASCADE = "haarcascade_frontalface_default.xml"
PLATE_CASCADE = "haarcascade_license_plate_rus_16stages.xml"
# Share of a region's size added on each side before blurring, so edges do not leak.
PAD_SHARE = 0.15
# A blurred region keeps about this many cells along its longer side: nothing readable survives.
BLUR_CELLS = 6


@runtime_checkable
class Anonymiser(Protocol):
    """Finds the regions of a frame that must be blurred (faces, licence plates).

    Attributes:
        name: A short name recorded in logs (``"haar"``, ``"null"``).
    """

    name: str

    def detect(self, bgr: npt.NDArray[np.uint8]) -> npt.NDArray[np.int32]:
        """Return the regions to blur as an (N, 4) array of ``x1, y1, x2, y2`` pixels."""
        ...


class HaarAnonymiser:
    """Faces and licence plates found with the Haar cascades that OpenCV ships.

    Detection runs on a grey copy scaled down to ``detect_width`` (the cascades' cost grows
    with the pixel count); boxes are scaled back to the frame. The defaults are a measured
    trade (docs/ingestion.md): on 1280x720 frames, 512 px with scale step 1.2 costs about
    32 ms of CPU per frame against 59 ms at 640 px / 1.15, and still finds faces from about
    60 px tall (the cascade's 24 px window scaled back); smaller faces need a better detector.

    Args:
        detect_width: Width the frame is scaled down to before detection.
        scale_factor: Step between the cascade's scales (larger is faster, coarser).
        min_neighbors: Overlapping hits a detection needs (larger means fewer false alarms).
        cascade_dir: Folder with the cascade files; ``cv2.data.haarcascades`` by default.
    """

    name = "haar"

    def __init__(
        self,
        detect_width: int = 512,
        scale_factor: float = 1.2,
        min_neighbors: int = 3,
        cascade_dir: str | Path | None = None,
    ) -> None:
        folder = Path(cascade_dir or cv2.data.haarcascades)
        self.detect_width = detect_width
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self._faces = _load_cascade(folder / FACE_CASCADE)
        self._plates = _load_cascade(folder / PLATE_CASCADE)

    def detect(self, bgr: npt.NDArray[np.uint8]) -> npt.NDArray[np.int32]:
        """Return face and plate boxes (N, 4) ``x1, y1, x2, y2`` in the frame's pixels.

        Args:
            bgr: An upright (H, W, 3) uint8 frame.

        Returns:
            The boxes, int32; (0, 4) when nothing is found.
        """
        gray, scale = self._detection_gray(bgr)
        faces = self._faces.detectMultiScale(
            gray, self.scale_factor, self.min_neighbors, minSize=(16, 16)
        )
        plates = self._plates.detectMultiScale(
            gray, self.scale_factor, self.min_neighbors, minSize=(30, 10)
        )
        boxes_xywh = [np.asarray(found).reshape(-1, 4) for found in (faces, plates)]
        xywh = np.concatenate(boxes_xywh).astype(np.float64) / scale
        xyxy = np.column_stack(
            [xywh[:, 0], xywh[:, 1], xywh[:, 0] + xywh[:, 2], xywh[:, 1] + xywh[:, 3]]
        )
        return np.rint(xyxy).astype(np.int32).reshape(-1, 4)

    def _detection_gray(self, bgr: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.uint8], float]:
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        width = gray.shape[1]
        if width <= self.detect_width:
            return gray, 1.0
        scale = self.detect_width / width
        small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        return small, scale


class NullAnonymiser:
    """Finds nothing. For tests and benchmarks only: its frames are marked not anonymised."""

    name = "null"

    def detect(self, bgr: npt.NDArray[np.uint8]) -> npt.NDArray[np.int32]:
        """Return no regions."""
        return np.zeros((0, 4), dtype=np.int32)


def anonymise_frame(
    bgr: npt.NDArray[np.uint8], anonymiser: Anonymiser
) -> tuple[npt.NDArray[np.uint8], int]:
    """Blur every region the anonymiser finds.

    Args:
        bgr: An upright (H, W, 3) uint8 frame; it is not modified.
        anonymiser: The detector of faces and plates.

    Returns:
        The frame with the regions blurred (the input itself when nothing was found) and the
        number of regions blurred.
    """
    boxes = np.asarray(anonymiser.detect(bgr)).reshape(-1, 4)
    if boxes.shape[0] == 0:
        return bgr, 0
    return blur_regions(bgr, boxes), int(boxes.shape[0])


def blur_regions(
    bgr: npt.NDArray[np.uint8], boxes_xyxy: npt.NDArray[np.int32]
) -> npt.NDArray[np.uint8]:
    """Return a copy of ``bgr`` with each box (padded) coarsely pixelated and smoothed.

    Args:
        bgr: The frame.
        boxes_xyxy: (N, 4) boxes in pixels.

    Returns:
        The blurred copy.
    """
    out = bgr.copy()
    height, width = out.shape[:2]
    for x1, y1, x2, y2 in _padded(boxes_xyxy, width, height):
        region = out[y1:y2, x1:x2]
        region_h, region_w = region.shape[:2]
        longer = max(region_h, region_w)
        cells_wh = (
            max(1, round(region_w * BLUR_CELLS / longer)),
            max(1, round(region_h * BLUR_CELLS / longer)),
        )
        small = cv2.resize(region, cells_wh, interpolation=cv2.INTER_AREA)
        coarse = cv2.resize(small, (region_w, region_h), interpolation=cv2.INTER_LINEAR)
        out[y1:y2, x1:x2] = cv2.GaussianBlur(coarse, (0, 0), sigmaX=max(1.0, longer / 8))
    return out


def unanonymised_frames(manifest: pd.DataFrame) -> list[str]:
    """Return the frame ids of a sampling manifest that were not anonymised.

    The blocking asset check before labeling calls this: any id returned stops the frames.

    Args:
        manifest: The table :func:`roadmark_pipeline.video.sampling.sample_source` returns.

    Returns:
        The offending frame ids, empty when every frame was anonymised.
    """
    if manifest.empty:
        return []
    flags = manifest["anonymised"].astype("boolean").fillna(False).astype(bool)
    return manifest.loc[~flags, "frame_id"].astype(str).tolist()


def _padded(
    boxes_xyxy: npt.NDArray[np.int32], width: int, height: int
) -> Sequence[tuple[int, int, int, int]]:
    padded = []
    for x1, y1, x2, y2 in np.asarray(boxes_xyxy, dtype=np.float64):
        pad_x, pad_y = (x2 - x1) * PAD_SHARE, (y2 - y1) * PAD_SHARE
        left, top = max(0, int(x1 - pad_x)), max(0, int(y1 - pad_y))
        right, bottom = min(width, int(np.ceil(x2 + pad_x))), min(height, int(np.ceil(y2 + pad_y)))
        if right > left and bottom > top:
            padded.append((left, top, right, bottom))
    return padded


def _load_cascade(path: Path) -> cv2.CascadeClassifier:
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise FileNotFoundError(
            f"{path}: Haar cascade missing or unreadable; reinstall opencv-python, which ships it"
        )
    return cascade
