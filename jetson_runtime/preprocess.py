"""Letterbox pre-processing: a frame of any size into the model's square input, and back.

The padding that was actually applied is recorded in a :class:`Letterbox`, and
:func:`unletterbox_xyxy` undoes exactly that padding. Recomputing the padding on the way back
(for instance with a different rounding) shifts boxes by a pixel or more on frames whose scaled
side is odd, which is the fault shared case R14 pins down.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

PAD_VALUE = 114


class PreprocessError(ValueError):
    """A frame that cannot be letterboxed (empty, wrong dtype or wrong number of channels)."""


@dataclass(frozen=True)
class Letterbox:
    """How one frame was fitted into the square model input.

    Attributes:
        gain: Scale applied to the original frame (model pixels per original pixel).
        pad_left: Columns of grey padding added on the left of the resized frame.
        pad_top: Rows of grey padding added above the resized frame.
        input_size: Side of the square model input, in pixels.
        orig_hw: Height and width of the original frame.
    """

    gain: float
    pad_left: int
    pad_top: int
    input_size: int
    orig_hw: tuple[int, int]


def fit_size(orig_hw: tuple[int, int], size: int) -> tuple[float, int, int]:
    """Return the gain and the resized height and width that fit a frame into ``size``.

    Args:
        orig_hw: Height and width of the frame.
        size: Side of the square target.

    Returns:
        ``(gain, new_h, new_w)`` with the long side equal to ``size``.
    """
    height, width = orig_hw
    gain = min(size / height, size / width)
    new_h = min(size, max(1, round(height * gain)))
    new_w = min(size, max(1, round(width * gain)))
    return gain, new_h, new_w


def _as_bgr(frame: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    if frame is None or frame.size == 0:
        raise PreprocessError("empty frame: pass a decoded image with at least one pixel")
    if frame.dtype != np.uint8:
        raise PreprocessError(f"frame dtype is {frame.dtype}; pass uint8 pixels as OpenCV decodes")
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.ndim == 3 and frame.shape[2] == 3:
        return frame
    if frame.ndim == 3 and frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    raise PreprocessError(
        f"frame shape {frame.shape} is not (H, W), (H, W, 3) or (H, W, 4); pass a BGR image"
    )


def letterbox(
    bgr: npt.NDArray[np.uint8], size: int = 640
) -> tuple[npt.NDArray[np.float32], Letterbox]:
    """Resize a frame into a square input, keeping its aspect ratio, with grey padding.

    The frame is scaled so its long side is ``size``, centred, and padded with grey 114 on the
    short side (the odd pixel of padding goes to the bottom or right).

    Args:
        bgr: A BGR (H, W, 3) uint8 frame; grey (H, W) and BGRA frames are converted.
        size: Side of the square model input.

    Returns:
        The input tensor (1, 3, size, size), RGB, float32 in 0..1, and the :class:`Letterbox`
        that records the gain and the padding actually applied.

    Raises:
        PreprocessError: When the frame is empty, not uint8, or has an unusable shape.
    """
    if size <= 0:
        raise PreprocessError(f"input size {size} must be a positive number of pixels")
    frame = _as_bgr(bgr)
    orig_hw = (int(frame.shape[0]), int(frame.shape[1]))
    gain, new_h, new_w = fit_size(orig_hw, size)

    if (new_h, new_w) != orig_hw:
        frame = cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    pad_top = (size - new_h) // 2
    pad_left = (size - new_w) // 2
    canvas = np.full((size, size, 3), PAD_VALUE, dtype=np.uint8)
    canvas[pad_top : pad_top + new_h, pad_left : pad_left + new_w] = frame

    blob = cv2.dnn.blobFromImage(canvas, scalefactor=1.0 / 255.0, swapRB=True)
    info = Letterbox(gain, pad_left, pad_top, size, orig_hw)
    return blob.astype(np.float32, copy=False), info


def unletterbox_xyxy(xyxy: npt.NDArray, lb: Letterbox) -> npt.NDArray[np.float32]:
    """Map boxes from model-input pixels back to the original frame.

    Args:
        xyxy: (N, 4) boxes ``x1, y1, x2, y2`` in the letterboxed input's pixels.
        lb: The :class:`Letterbox` returned with that input.

    Returns:
        (N, 4) float32 boxes in original-frame pixels, clipped to the frame.

    Raises:
        ValueError: When ``xyxy`` is not (N, 4).
    """
    boxes = np.asarray(xyxy, dtype=np.float64)
    if boxes.size == 0:
        return np.zeros((0, 4), dtype=np.float32)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes have shape {boxes.shape}; pass an (N, 4) x1,y1,x2,y2 array")

    out = boxes.copy()
    out[:, [0, 2]] = (out[:, [0, 2]] - lb.pad_left) / lb.gain
    out[:, [1, 3]] = (out[:, [1, 3]] - lb.pad_top) / lb.gain
    height, width = lb.orig_hw
    out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, width)
    out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, height)
    return out.astype(np.float32)
