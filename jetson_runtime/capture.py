"""Frame sources: a video file, a V4L2 camera, an RTSP stream or a GStreamer pipeline.

Decoding runs in its own thread and hands frames over through a small queue, so the next frame
is decoded while the current one is being inferred. Sampling keeps one frame in ``every_n``:
the others are only grabbed (demuxed and decoded by the library, never converted or copied).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from jetson_runtime.quality import frame_quality

LOG = logging.getLogger(__name__)
_END = object()
DECODE_THREAD = "roadmark-decode"


class SourceError(ValueError):
    """A source that cannot be opened; the message names it and how to fix it."""


@dataclass(frozen=True)
class SourceSpec:
    """How to open a source.

    Attributes:
        kind: ``file``, ``v4l2``, ``rtsp`` or ``gstreamer``.
        target: What OpenCV opens (a path, a device index, a URL, a pipeline string).
        api: The OpenCV capture backend.
    """

    kind: str
    target: str | int
    api: int

    @property
    def live(self) -> bool:
        """True for cameras and streams (frames keep coming; reconnect on loss)."""
        return self.kind != "file"


@dataclass
class Frame:
    """One decoded frame.

    Attributes:
        index: Position in decode order (every frame counts, sampled or not).
        bgr: The pixels.
        pts_ms: Presentation time in milliseconds as the source reports it.
        decode_ms: Time spent decoding it (and the frames skipped before it).
        wall: ``time.time()`` when it was decoded.
        retries: Reconnections of a live source needed since the previous frame.
        quality: The frame's input metrics (:func:`jetson_runtime.quality.frame_quality`),
            measured in the decode thread so they cost the inference loop nothing.
        prepared: What the ``prepare`` callable of :func:`frames` made of it (the model input),
            also in the decode thread; None without one.
    """

    index: int
    bgr: npt.NDArray[np.uint8]
    pts_ms: float
    decode_ms: float
    wall: float
    retries: int = 0
    quality: dict[str, float] | None = None
    prepared: Any = None


def quiet_native_logs() -> None:
    """Keep FFmpeg's and OpenCV's own stderr warnings out of the command line's output.

    A file that is not a video otherwise prints FFmpeg's and OpenCV's complaints around our
    one-line error. FFmpeg reads its level when OpenCV first opens a file with it; a level already
    set in the environment is kept.
    """
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # FFmpeg's AV_LOG_QUIET
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")  # read by a slot's runtime as cv2 loads
    cv2.setLogLevel(2)  # errors only, from now on in this process


def has_gstreamer() -> bool:
    """Return True when this OpenCV build can open GStreamer pipelines."""
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GStreamer:"):
            return "YES" in line
    return False


def parse_source(source: str) -> SourceSpec:
    """Classify a ``--source`` value.

    Accepted: a video file path; ``/dev/videoN`` or a bare camera index ``N`` (V4L2); an
    ``rtsp://`` or ``rtsps://`` URL; a GStreamer pipeline (text containing ``!``, ending in an
    ``appsink``).

    Raises:
        SourceError: When the file does not exist, or GStreamer is asked of an OpenCV without it.
    """
    text = source.strip()
    if "!" in text:
        if not has_gstreamer():
            raise SourceError(
                f"{text!r}: this OpenCV was built without GStreamer; on a Jetson use the "
                "JetPack OpenCV (GStreamer: YES), or pass a file, /dev/videoN or rtsp:// URL"
            )
        if "appsink" not in text:
            raise SourceError(f"{text!r}: a GStreamer pipeline must end in '! appsink'")
        return SourceSpec("gstreamer", text, cv2.CAP_GSTREAMER)
    if text.lower().startswith(("rtsp://", "rtsps://")):
        return SourceSpec("rtsp", text, cv2.CAP_FFMPEG)
    if text.isdigit():
        return SourceSpec("v4l2", int(text), cv2.CAP_V4L2)
    if text.startswith("/dev/video"):
        return SourceSpec("v4l2", text, cv2.CAP_V4L2)
    return SourceSpec("file", _video_file(text), cv2.CAP_FFMPEG)


def _video_file(text: str) -> str:
    """Return the path of a video file source, or say what is wrong with it."""
    path = Path(text)
    if path.is_dir():
        raise SourceError(
            f"{text}: a folder, not a video file; pass one video file from it (e.g. "
            f"{Path(text) / 'clip.mp4'})"
        )
    if not path.is_file():
        raise SourceError(
            f"{text}: no such file; pass a video file, /dev/videoN, rtsp://... or a GStreamer "
            "pipeline"
        )
    if not os.access(path, os.R_OK):
        raise SourceError(f"{text}: not readable by this user; check its permissions")
    if path.stat().st_size == 0:
        raise SourceError(
            f"{text}: the file is empty (0 bytes); pass a complete H.264/H.265 video (was the "
            "recording or the copy interrupted?)"
        )
    return str(path)


_HINTS = {
    "file": "no video frame could be read from it (audio only, truncated, damaged or not a "
    "video); pass a complete H.264/H.265 video",
    "v4l2": "check the camera is connected and not in use",
    "rtsp": "check the URL, the credentials and the network",
    "gstreamer": "run the pipeline with gst-launch-1.0 to see the error",
}


class OpenCapture:
    """An OpenCV capture whose first frame was read when it opened, handed out first.

    OpenCV "opens" many things that hold no video (a text file, a truncated MP4): a source only
    counts as open once a frame has been read from it. That frame is not lost: the first
    :meth:`grab` / :meth:`retrieve` return it.
    """

    def __init__(self, capture: cv2.VideoCapture, first: npt.NDArray[np.uint8], pts_ms: float):
        self._capture = capture
        self._pending: tuple[npt.NDArray[np.uint8], float] | None = (first, pts_ms)
        self._current: tuple[npt.NDArray[np.uint8], float] | None = None

    def grab(self) -> bool:
        """Advance to the next frame (the frame read at open, first); False at the end."""
        self._current, self._pending = self._pending, None
        return True if self._current is not None else bool(self._capture.grab())

    def retrieve(self) -> tuple[bool, npt.NDArray[np.uint8] | None]:
        """Decode the frame last grabbed."""
        if self._current is not None:
            return True, self._current[0]
        return self._capture.retrieve()

    def position_ms(self) -> float:
        """The presentation time of the frame last grabbed, in milliseconds."""
        if self._current is not None:
            return self._current[1]
        return float(self._capture.get(cv2.CAP_PROP_POS_MSEC))

    def release(self) -> None:
        """Close the source."""
        self._capture.release()


def open_capture(spec: SourceSpec) -> OpenCapture:
    """Open a source with OpenCV and read its first frame.

    Raises:
        SourceError: When OpenCV cannot open it, or it opens but yields no frame.
    """
    capture = cv2.VideoCapture(spec.target, spec.api)
    if not capture.isOpened():
        capture.release()
        raise SourceError(f"{spec.target}: cannot open the {spec.kind} source; {_HINTS[spec.kind]}")
    ok, first = capture.read()
    if not ok or first is None:
        capture.release()
        raise SourceError(
            f"{spec.target}: the {spec.kind} source opens but yields no frame; {_HINTS[spec.kind]}"
        )
    return OpenCapture(capture, first, float(capture.get(cv2.CAP_PROP_POS_MSEC)))


def _reopen(spec: SourceSpec, stop: threading.Event, attempts: int) -> OpenCapture | None:
    """Reconnect a live source with a growing pause; None when every attempt failed."""
    for attempt in range(attempts):
        if stop.wait(min(0.5 * 2**attempt, 8.0)):
            return None
        try:
            return open_capture(spec)
        except SourceError as exc:
            LOG.warning("reconnect %d/%d failed: %s", attempt + 1, attempts, exc)
    return None


def _decode(
    spec: SourceSpec,
    capture: OpenCapture,
    settings: tuple[int, int | None, int, Callable[[Any], Any] | None],
    out: queue.Queue[object],
    stop: threading.Event,
) -> None:
    every_n, max_frames, reconnects, prepare = settings
    index, emitted, retries = -1, 0, 0
    started = time.perf_counter()
    try:
        while not stop.is_set() and (max_frames is None or emitted < max_frames):
            if not capture.grab():
                if not spec.live:
                    break
                capture.release()
                LOG.warning("%s source lost after frame %d; reconnecting", spec.kind, index)
                reopened = _reopen(spec, stop, reconnects)
                if reopened is None:
                    break
                capture, retries = reopened, retries + 1
                continue
            index += 1
            if index % every_n:
                continue
            ok, bgr = capture.retrieve()
            if not ok or bgr is None:
                LOG.warning("frame %d grabbed but not decodable; skipped", index)
                continue
            now = time.perf_counter()
            pts = capture.position_ms()
            decode_ms = (now - started) * 1000.0
            frame = Frame(index, bgr, pts, decode_ms, time.time(), retries, frame_quality(bgr))
            frame.prepared = prepare(bgr) if prepare is not None else None
            started, retries = now, 0
            _hand_over(out, frame, stop)
            emitted += 1
    finally:
        capture.release()
        _hand_over(out, _END, stop)


def _hand_over(out: queue.Queue[object], item: object, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            out.put(item, timeout=0.1)
            return
        except queue.Full:
            continue


def frames(
    spec: SourceSpec,
    every_n: int = 1,
    max_frames: int | None = None,
    prefetch: int = 4,
    reconnects: int = 5,
    prepare: Callable[[Any], Any] | None = None,
) -> Iterator[Frame]:
    """Yield sampled frames, decoded ahead in a background thread.

    Args:
        spec: The source (see :func:`parse_source`).
        every_n: Keep one frame in ``every_n`` (1 keeps all).
        max_frames: Stop after this many yielded frames.
        prefetch: Frames decoded ahead of the consumer.
        reconnects: Attempts to reopen a live source that stopped delivering.
        prepare: Called on each kept frame in the decode thread (the detector's letterbox);
            its result travels as ``Frame.prepared``.

    Yields:
        Frames in decode order.

    Raises:
        SourceError: When the source cannot be opened or ``every_n`` is below 1.
    """
    if every_n < 1:
        raise SourceError(f"every_n={every_n}; pass 1 (all frames) or more")
    capture = open_capture(spec)
    handoff: queue.Queue[object] = queue.Queue(maxsize=prefetch)
    stop = threading.Event()
    settings = (every_n, max_frames, reconnects, prepare)
    worker = threading.Thread(
        target=_decode,
        args=(spec, capture, settings, handoff, stop),
        name=DECODE_THREAD,
        daemon=True,
    )
    worker.start()
    try:
        while True:
            item = handoff.get()
            if item is _END:
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join(timeout=10)
