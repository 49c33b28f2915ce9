"""What a source really holds: frames that decode, timing from the container, rotation, camera.

:func:`probe_source` decodes the whole stream (threaded) without converting a single frame, so
its counts are facts rather than the header's promises.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from roadmark_pipeline.ids import sha256_file
from roadmark_pipeline.video.camera import resolve_camera
from roadmark_pipeline.video.decode import decoded_frames, frame_rotation, open_video
from roadmark_pipeline.video.errors import UnreadableSourceError
from roadmark_pipeline.video.still import is_still, load_still

__all__ = ["SourceInfo", "UnreadableSourceError", "frame_timestamps", "probe_source"]

LOG = logging.getLogger(__name__)

# Frame intervals further than this share from their median make a stream variable-rate.
VFR_TOLERANCE = 0.1


@dataclass(frozen=True)
class SourceInfo:
    """The facts about one source (a video, or a still as a one-frame source).

    Attributes:
        path: The file as given.
        sha256: Hex sha256 of its content (the partition key is its first 16 characters).
        kind: ``"video"`` or ``"image"``.
        codec: Decoder name (``"h264"``, ``"hevc"``, ``"mpeg4"``, ``"jpeg"``, ...).
        fps: Frames per second measured from the decoded timestamps (the container's average
            rate for a one-frame video; 0.0 for a still).
        header_frames: Frame count the container claims (0 when it does not say).
        decodable_frames: Frames that really decode.
        duration_s: Span of the decoded frames, last frame's interval included.
        width: Frame width after rotation (upright).
        height: Frame height after rotation (upright).
        rotation: Clockwise degrees applied to make frames upright (0, 90, 180, 270).
        variable_frame_rate: True when frame intervals differ by more than 10 % of their median.
        camera_make: From a sidecar ``<stem>.json``, container tags or EXIF; None when unknown.
        camera_model: Likewise.
    """

    path: str
    sha256: str
    kind: str
    codec: str
    fps: float
    header_frames: int
    decodable_frames: int
    duration_s: float
    width: int
    height: int
    rotation: int
    variable_frame_rate: bool
    camera_make: str | None
    camera_model: str | None

    def to_dict(self) -> dict[str, object]:
        """Return the fields as a JSON-ready dictionary."""
        return dataclasses.asdict(self)


def probe_source(path: str | Path) -> SourceInfo:
    """Probe a video or still image.

    Args:
        path: The source file.

    Returns:
        Its :class:`SourceInfo`.

    Raises:
        UnreadableSourceError: When the file is missing, empty, not a video or image, has no
            video stream, or not one frame decodes.
        SidecarError: When a camera sidecar ``<stem>.json`` exists but is not a JSON object.
    """
    source = Path(path)
    if is_still(source):
        return _probe_still(source)
    return _probe_video(source)


def frame_timestamps(path: str | Path) -> npt.NDArray[np.float64]:
    """Return the container time of every frame that decodes, in decode order.

    Args:
        path: A video file (a still has the single timestamp 0).

    Returns:
        Milliseconds since the stream's start, one per decodable frame.

    Raises:
        UnreadableSourceError: As :func:`probe_source`.
    """
    source = Path(path)
    if is_still(source):
        load_still(source)
        return np.zeros(1, dtype=np.float64)
    with open_video(source) as (container, stream):
        stamps = [decoded.timestamp_ms for decoded in decoded_frames(container, stream, source)]
    return np.asarray(stamps, dtype=np.float64)


def _probe_still(source: Path) -> SourceInfo:
    still = load_still(source)
    make, model = resolve_camera(source, still.tags)
    height, width = still.bgr.shape[:2]
    return SourceInfo(
        path=str(source),
        sha256=sha256_file(source),
        kind="image",
        codec=still.codec,
        fps=0.0,
        header_frames=1,
        decodable_frames=1,
        duration_s=0.0,
        width=int(width),
        height=int(height),
        rotation=still.rotation,
        variable_frame_rate=False,
        camera_make=make,
        camera_model=model,
    )


def _probe_video(source: Path) -> SourceInfo:
    with open_video(source) as (container, stream):
        timestamps: list[float] = []
        rotation, width, height = 0, 0, 0
        for decoded in decoded_frames(container, stream, source):
            if not timestamps:
                rotation = frame_rotation(decoded.frame, stream)
                width, height = decoded.frame.width, decoded.frame.height
            timestamps.append(decoded.timestamp_ms)

        header_frames = int(stream.frames or 0)
        if not timestamps:
            raise UnreadableSourceError(
                f"{source}: not one frame decodes (the header promises {header_frames}); the "
                "file is damaged: copy it again from the camera"
            )
        nominal_fps = float(stream.average_rate or stream.guessed_rate or 0.0)
        codec = stream.codec_context.name
        make, model = resolve_camera(source, container.metadata, stream.metadata)

    fps, duration_s, variable = _timing(np.asarray(timestamps), nominal_fps)
    if rotation in (90, 270):
        width, height = height, width
    LOG.info(
        "%s: %d of %d header frames decode, %.3f fps, rotation %d",
        source.name,
        len(timestamps),
        header_frames,
        fps,
        rotation,
    )
    return SourceInfo(
        path=str(source),
        sha256=sha256_file(source),
        kind="video",
        codec=codec,
        fps=fps,
        header_frames=header_frames,
        decodable_frames=len(timestamps),
        duration_s=duration_s,
        width=int(width),
        height=int(height),
        rotation=rotation,
        variable_frame_rate=variable,
        camera_make=make,
        camera_model=model,
    )


def _timing(timestamps_ms: np.ndarray, nominal_fps: float) -> tuple[float, float, bool]:
    """Return (fps, duration in s, variable rate) from decoded timestamps."""
    if timestamps_ms.size < 2:
        fps = nominal_fps
        return fps, (1.0 / fps if fps > 0 else 0.0), False

    intervals = np.diff(np.sort(timestamps_ms))
    median = float(np.median(intervals))
    span_ms = float(timestamps_ms.max() - timestamps_ms.min())
    if span_ms <= 0 or median <= 0:
        LOG.warning("frame timestamps do not advance; using the container's %.3f fps", nominal_fps)
        fps = nominal_fps
        return fps, (timestamps_ms.size / fps if fps > 0 else 0.0), False

    fps = (timestamps_ms.size - 1) * 1000.0 / span_ms
    variable = bool(np.any(np.abs(intervals - median) > VFR_TOLERANCE * median))
    duration_s = (span_ms + median) / 1000.0
    return round(fps, 6), round(duration_s, 6), variable
