"""Input metrics of a frame, computed identically in the pipeline and on the device.

Both sides call :func:`frame_quality`, so the training frames (the drift reference) and the
fleet's telemetry are measured with the same code at the same analysis size.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

ANALYSIS_WIDTH = 320
DARK_LEVEL = 16
BRIGHT_LEVEL = 239
QUALITY_KEYS = ("brightness", "contrast", "blur", "overexposed_share", "underexposed_share")


def analysis_gray(bgr: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Return the frame as grey levels, resized to the fixed analysis width.

    Args:
        bgr: A colour frame (H, W, 3) as OpenCV decodes it, or a grey frame (H, W).

    Returns:
        A (h, 320) uint8 image, aspect ratio kept.
    """
    gray = bgr if bgr.ndim == 2 else cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    height, width = gray.shape[:2]
    if width == ANALYSIS_WIDTH:
        return gray
    new_height = max(1, round(height * ANALYSIS_WIDTH / width))
    return cv2.resize(gray, (ANALYSIS_WIDTH, new_height), interpolation=cv2.INTER_AREA)


def frame_quality(bgr: npt.NDArray[np.uint8]) -> dict[str, float]:
    """Measure brightness, contrast, blur and exposure of one frame.

    Args:
        bgr: A colour (H, W, 3) or grey (H, W) uint8 frame.

    Returns:
        ``brightness`` (mean grey level, 0-255), ``contrast`` (standard deviation of grey levels),
        ``blur`` (variance of the Laplacian: low means blurred), ``overexposed_share`` and
        ``underexposed_share`` (share of pixels above 239 / below 16).

    Raises:
        ValueError: When the frame is empty or not uint8.
    """
    if bgr is None or bgr.size == 0:
        raise ValueError("empty frame: pass a decoded image with at least one pixel")
    if bgr.dtype != np.uint8:
        raise ValueError(f"frame dtype is {bgr.dtype}; pass uint8 pixels as OpenCV decodes them")

    gray = analysis_gray(bgr)
    mean, std = cv2.meanStdDev(gray)
    laplacian = cv2.Laplacian(gray, cv2.CV_64F)
    pixels = float(gray.size)

    return {
        "brightness": float(mean[0, 0]),
        "contrast": float(std[0, 0]),
        "blur": float(laplacian.var()),
        "overexposed_share": float(np.count_nonzero(gray > BRIGHT_LEVEL)) / pixels,
        "underexposed_share": float(np.count_nonzero(gray < DARK_LEVEL)) / pixels,
    }
