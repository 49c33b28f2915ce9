"""Make a clip look as if another camera recorded it: the demo's and tests' "new camera maker".

Darker, colour-cast and at another resolution, written with OpenCV's MPEG-4 encoder so no
ffmpeg binary is needed. A sidecar ``<stem>.json`` names the camera, as a dashcam's upload would.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from roadmark_pipeline import lake

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraShift:
    """How the other camera differs.

    Attributes:
        gain: Brightness factor (below 1: darker sensor or auto-exposure).
        tint_bgr: Per-channel factors (a colour cast; blue-heavy by default).
        size: Output width and height.
        camera_make: Written to the sidecar.
        camera_model: Written to the sidecar; devices report the same name in telemetry.
    """

    gain: float = 0.45
    tint_bgr: tuple[float, float, float] = (1.25, 0.95, 0.75)
    size: tuple[int, int] = (640, 360)
    camera_make: str = "Acme"
    camera_model: str = "acme-cam-b"


def shift_frame(bgr: np.ndarray, shift: CameraShift) -> np.ndarray:
    """Return one frame as the other camera would see it."""
    resized = cv2.resize(bgr, shift.size, interpolation=cv2.INTER_AREA)
    factors = np.array(shift.tint_bgr, dtype=np.float32) * shift.gain
    return np.clip(resized.astype(np.float32) * factors, 0, 255).astype(np.uint8)


def make_shifted_clip(source: Path, target: Path, shift: CameraShift = CameraShift()) -> Path:
    """Write ``target`` (an .mp4) from ``source`` with the shift applied, plus its sidecar.

    Written under a temporary name and renamed, so a landing sensor never sees half a clip.

    Args:
        source: A readable video.
        target: The clip to write; ``<target stem>.json`` gets the camera make and model.
        shift: How the other camera differs.

    Returns:
        ``target``.

    Raises:
        ValueError: When ``source`` yields no frame.
    """
    capture = cv2.VideoCapture(str(source))
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.stem}.partial.mp4")
    writer = cv2.VideoWriter(str(partial), cv2.VideoWriter_fourcc(*"mp4v"), fps, shift.size)
    frames = 0
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            writer.write(shift_frame(frame, shift))
            frames += 1
    finally:
        capture.release()
        writer.release()
    if frames == 0:
        partial.unlink(missing_ok=True)
        raise ValueError(f"{source}: no frame decodes; pass a readable clip")
    sidecar = {"camera_make": shift.camera_make, "camera_model": shift.camera_model}
    lake.write_json_atomic(target.with_suffix(".json"), sidecar)
    os.replace(partial, target)
    LOG.info(
        "wrote %s: %d frames as %s %s", target.name, frames, shift.camera_make, shift.camera_model
    )
    return target
