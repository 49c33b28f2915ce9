"""Real video files made with the ffmpeg command line for the video tests.

Every frame is drawn upright with a red square in its top-left corner and its own index as an
8-bit bar code along the bottom (white cell = 1, most significant bit first), the same layout as
the shared cases R01 and R02, so a test can read back which frame it got and which way up.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

FFMPEG = "ffmpeg"
BITS = 8


def draw_frame(
    index: int, width: int, height: int, shift: int = 0, noise: int = 0, noise_seed: int = 0
) -> np.ndarray:
    """An upright BGR frame: textured road-like background, red marker, index bar code.

    The texture is the same in every frame (moved ``shift`` cells sideways); ``noise`` adds
    sensor-like noise of that amplitude, drawn from ``noise_seed`` and the index.
    """
    rng = np.random.default_rng(0)
    texture = rng.integers(40, 200, size=(height // 8 + 1, width // 8 + 2), dtype=np.uint8)
    texture = np.roll(texture, shift, axis=1)
    gray = cv2.resize(texture, (width + 16, height + 8), interpolation=cv2.INTER_NEAREST)
    frame = cv2.cvtColor(gray[:height, :width], cv2.COLOR_GRAY2BGR)

    marker = max(8, min(width, height) // 5)
    frame[:marker, :marker] = (0, 0, 255)
    strip = marker
    for bit in range(BITS):
        on = (index >> (BITS - 1 - bit)) & 1
        x1, x2 = bit * width // BITS, (bit + 1) * width // BITS
        frame[height - strip :, x1:x2] = 255 if on else 0
    if noise:
        jitter = np.random.default_rng((noise_seed, index)).integers(-noise, noise + 1, frame.shape)
        frame = np.clip(frame.astype(np.int16) + jitter, 0, 255).astype(np.uint8)
    return frame


def read_index(bgr: np.ndarray) -> int:
    """Read the bar-coded index back from an upright frame."""
    height, width = bgr.shape[:2]
    row = bgr[height - max(4, min(width, height) // 10), :, :].mean(axis=1)
    value = 0
    for bit in range(BITS):
        centre = int((bit + 0.5) * width / BITS)
        value = (value << 1) | int(row[centre] > 128)
    return value


def marker_corner(bgr: np.ndarray) -> str:
    """Name the corner holding the red marker: 'top-left', 'top-right', ... or 'none'."""
    height, width = bgr.shape[:2]
    size = max(4, min(width, height) // 10)
    corners = {
        "top-left": bgr[:size, :size],
        "top-right": bgr[:size, -size:],
        "bottom-left": bgr[-size:, :size],
        "bottom-right": bgr[-size:, -size:],
    }
    for name, patch in corners.items():
        blue, green, red = patch.reshape(-1, 3).mean(axis=0)
        if red > 180 and green < 80 and blue < 80:
            return name
    return "none"


def run_ffmpeg(*args: str) -> None:
    """Run ffmpeg quietly (errors only), overwriting its output; a failure fails the test."""
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def remux(source: Path, target: Path, *options: str) -> Path:
    """Copy ``source``'s streams unchanged into ``target``, adding output ``options`` (tags)."""
    run_ffmpeg("-i", str(source), "-c", "copy", *options, str(target))
    return target


def make_audio_only(path: Path) -> Path:
    """A one-second AAC file with no video stream, named however the test likes."""
    run_ffmpeg("-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", str(path))
    return path


def encode(
    frames: Sequence[np.ndarray],
    path: Path,
    fps: float = 10.0,
    codec_args: Sequence[str] = ("-c:v", "libx264", "-preset", "ultrafast"),
    extra: Sequence[str] = (),
) -> Path:
    """Pipe raw BGR frames through ffmpeg into ``path``."""
    height, width = frames[0].shape[:2]
    command = [
        FFMPEG,
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "bgr24",
        "-s",
        f"{width}x{height}",
        "-r",
        f"{fps}",
        "-i",
        "-",
        *codec_args,
        "-pix_fmt",
        "yuv420p",
        *extra,
        str(path),
    ]
    data = b"".join(np.ascontiguousarray(frame).tobytes() for frame in frames)
    subprocess.run(command, input=data, check=True)
    return path


def make_clip(
    path: Path,
    count: int,
    fps: float = 10.0,
    width: int = 320,
    height: int = 180,
    rotation_cw: int = 0,
    extra: Sequence[str] = (),
    noise: int = 0,
) -> Path:
    """A moving clip whose frames come out upright once ``rotation_cw`` is applied.

    The frames are stored turned counter-clockwise by ``rotation_cw``. ffmpeg 5.1's MP4 muxer
    turns a ``rotate=R`` tag into a display matrix of R degrees counter-clockwise (its own
    autorotation then turns the picture counter-clockwise by R), so the tag written is
    ``360 - rotation_cw``. The tests check the result against ffmpeg's autorotation too.
    """
    upright = [draw_frame(i, width, height, shift=i, noise=noise) for i in range(count)]
    stored = [_turn_back(frame, rotation_cw) for frame in upright]
    if not rotation_cw:
        return encode(stored, path, fps, extra=extra)
    plain = encode(stored, path.with_name(f"plain_{path.name}"), fps, extra=extra)
    remux(plain, path, "-metadata:s:v:0", f"rotate={(360 - rotation_cw) % 360}")
    plain.unlink()
    return path


def truncate(source: Path, target: Path, share: float) -> Path:
    """Copy the first ``share`` of ``source``'s bytes to ``target``."""
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * share)])
    return target


def _turn_back(frame: np.ndarray, rotation_cw: int) -> np.ndarray:
    codes = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_CLOCKWISE}
    code = codes.get(rotation_cw % 360)
    return frame if code is None else cv2.rotate(frame, code)


def vfr_times() -> list[float]:
    """20 frames at 20 fps, then 20 frames at 5 fps (a dashcam dropping its rate in the dark)."""
    return [n * 0.05 if n < 20 else 1.0 + (n - 20) * 0.2 for n in range(40)]


def make_vfr_clip(path: Path) -> Path:
    frames = [draw_frame(i, 320, 180, shift=i) for i in range(40)]
    # In twentieths of a second so no timestamp is rounded; commas escaped for the filter.
    expression = r"if(lt(N\,20)\,N\,20+(N-20)*4)/(20*TB)"
    return encode(
        frames, path, fps=20, extra=("-vf", f"setpts={expression}", "-fps_mode", "passthrough")
    )


def exif_still(path: Path, orientation: int) -> Path:
    upright = draw_frame(7, 320, 180)
    undo = {
        1: None,
        3: cv2.ROTATE_180,
        6: cv2.ROTATE_90_COUNTERCLOCKWISE,
        8: cv2.ROTATE_90_CLOCKWISE,
    }[orientation]
    stored = upright if undo is None else cv2.rotate(upright, undo)
    image = Image.fromarray(stored[:, :, ::-1].copy())
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "StillMaker"
    exif[0x0110] = "SM-1"
    image.save(path, quality=95, exif=exif)
    return path
