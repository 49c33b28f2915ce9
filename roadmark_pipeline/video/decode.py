"""Decoding a video the way a damaged dashcam file demands: every frame that decodes, no more.

The container's header is a promise, not a fact: a file cut short by a power loss still claims
its planned frame count. :func:`decoded_frames` walks the packets with threaded decoding, keeps
going past packets that fail to decode, stops at a damaged tail, flushes what the decoder still
holds, and numbers the frames in decode order with their container timestamps.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import av
import av.container
import av.error
import av.stream
import av.video.frame
import cv2
import numpy as np
import numpy.typing as npt

from roadmark_pipeline.video.errors import UnreadableSourceError, check_source_file

LOG = logging.getLogger(__name__)

_VIDEO_FIX = "pass an MP4/MOV/MKV/TS file with H.264/H.265 video"
_ROTATE_CODES = {
    90: cv2.ROTATE_90_CLOCKWISE,
    180: cv2.ROTATE_180,
    270: cv2.ROTATE_90_COUNTERCLOCKWISE,
}


@dataclass
class DecodedFrame:
    """One frame as it came out of the decoder.

    Attributes:
        index: Position in decode order, counting only frames that decoded.
        timestamp_ms: Milliseconds since the stream's start, from the container's pts.
        frame: The decoded frame (not yet converted or rotated).
    """

    index: int
    timestamp_ms: float
    frame: av.video.frame.VideoFrame


@contextmanager
def open_video(path: Path) -> Iterator[tuple[av.container.InputContainer, av.stream.Stream]]:
    """Open a video container and its first video stream, with threaded decoding.

    Args:
        path: The video file.

    Yields:
        The open container and its first video stream.

    Raises:
        UnreadableSourceError: When the file is missing, empty, not a container FFmpeg reads, or
            holds no video stream.
    """
    check_source_file(path, "copy it again from the camera or wait until the upload has finished")
    try:
        container = av.open(str(path), mode="r")
    except (av.error.FFmpegError, UnicodeDecodeError) as error:
        raise UnreadableSourceError(
            f"{path}: not a video container FFmpeg can read ({_short(error)}); {_VIDEO_FIX} "
            "(an MP4 cut short before its index was written needs a fresh copy from the camera)"
        ) from error

    try:
        if not container.streams.video:
            kinds = sorted({stream.type for stream in container.streams})
            held = f"{', '.join(kinds)} only" if kinds else "no streams at all"
            raise UnreadableSourceError(
                f"{path}: no video stream (read as {container.format.name}: {held}); {_VIDEO_FIX}"
            )
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        yield container, stream
    finally:
        container.close()


def decoded_frames(
    container: av.container.InputContainer, stream: av.stream.Stream, path: Path
) -> Iterator[DecodedFrame]:
    """Yield every frame of ``stream`` that decodes, in decode order.

    A packet that fails to decode is skipped (the decoder resynchronises at the next key frame);
    a demuxing error, as at a truncated tail, ends the walk after the decoder is flushed.

    Args:
        container: The open container.
        stream: Its video stream.
        path: The file, for log messages.

    Yields:
        The decoded frames, numbered from 0.
    """
    clock = _Clock(stream)
    index = 0
    for frame in _raw_frames(container, stream, path):
        yield DecodedFrame(index=index, timestamp_ms=clock.timestamp_ms(frame), frame=frame)
        index += 1


def frame_rotation(frame: av.video.frame.VideoFrame, stream: av.stream.Stream) -> int:
    """Return the clockwise rotation (0, 90, 180 or 270) that makes ``frame`` upright.

    The display matrix (FFmpeg's ``rotation`` is counter-clockwise) wins; an old-style
    ``rotate`` tag (clockwise) is the fallback.

    Args:
        frame: A decoded frame; it carries the stream's display matrix as side data.
        stream: The stream, for its tags.

    Returns:
        Degrees clockwise, a multiple of 90.
    """
    # TODO(mirrored display matrices are read as their rotation only, when a mirrored camera
    # source reaches the landing zone)
    counter_clockwise = int(frame.rotation or 0)
    if counter_clockwise:
        return _snap_right_angle(-counter_clockwise)
    tag = stream.metadata.get("rotate", "0")
    try:
        return _snap_right_angle(int(float(tag)))
    except ValueError:
        LOG.warning("ignoring unreadable rotate tag %r", tag)
        return 0


def upright_bgr(frame: av.video.frame.VideoFrame, rotation: int) -> npt.NDArray[np.uint8]:
    """Convert a decoded frame to BGR pixels and rotate it upright.

    Args:
        frame: The decoded frame.
        rotation: Clockwise degrees from :func:`frame_rotation`.

    Returns:
        An (H, W, 3) uint8 array, upright.
    """
    bgr = frame.to_ndarray(format="bgr24")
    return rotate_upright(bgr, rotation)


def rotate_upright(bgr: npt.NDArray[np.uint8], rotation: int) -> npt.NDArray[np.uint8]:
    """Rotate an image clockwise by ``rotation`` degrees (0, 90, 180 or 270)."""
    code = _ROTATE_CODES.get(rotation % 360)
    return bgr if code is None else cv2.rotate(bgr, code)


class _Clock:
    """Turns a frame's pts into milliseconds since the stream started."""

    def __init__(self, stream: av.stream.Stream) -> None:
        self._time_base = float(stream.time_base) if stream.time_base else 0.0
        self._start = stream.start_time
        rate = stream.average_rate or stream.guessed_rate or 25
        self._step_ms = 1000.0 / float(rate)
        self._last_ms: float | None = None

    def timestamp_ms(self, frame: av.video.frame.VideoFrame) -> float:
        if frame.pts is None or not self._time_base:
            # A frame without pts (raw elementary streams): one nominal step after the last.
            value = 0.0 if self._last_ms is None else self._last_ms + self._step_ms
        else:
            if self._start is None:
                self._start = frame.pts
            value = (frame.pts - self._start) * self._time_base * 1000.0
        self._last_ms = value
        return value


def _raw_frames(
    container: av.container.InputContainer, stream: av.stream.Stream, path: Path
) -> Iterator[av.video.frame.VideoFrame]:
    """Yield the frames that decode; report damage once the walk is over.

    Damage is a warning only when some frames decoded (a partial read worth knowing about).
    When none did, the caller refuses the file with one line of its own, so the details go to
    the debug log instead of a second stderr line for the same refusal.
    """
    packets = container.demux(stream)
    damaged, yielded, stopped = 0, 0, ""
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            break
        except av.error.FFmpegError as error:
            stopped = _short(error)
            for frame in _flush(stream):
                yielded += 1
                yield frame
            break

        try:
            for frame in packet.decode():
                yielded += 1
                yield frame
        except av.error.FFmpegError as error:
            damaged += 1
            LOG.debug("%s: packet at pts %s does not decode: %s", path.name, packet.pts, error)
    level = logging.WARNING if yielded else logging.DEBUG
    if stopped:
        LOG.log(
            level, "%s: demuxing stopped (%s); kept the frames decoded so far", path.name, stopped
        )
    if damaged:
        LOG.log(level, "%s: %d packets did not decode and were skipped", path.name, damaged)


def _flush(stream: av.stream.Stream) -> Iterator[av.video.frame.VideoFrame]:
    try:
        yield from stream.codec_context.decode(None)
    except av.error.FFmpegError as error:
        LOG.debug("decoder flush ended: %s", error)


def _snap_right_angle(degrees: int) -> int:
    return (round(degrees / 90) * 90) % 360


def _short(error: BaseException) -> str:
    reason = getattr(error, "strerror", None)
    if reason:
        return str(reason)
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
