"""Frame sources: kinds of --source, exact 1-in-N sampling with decode in its own thread, and
sources that end early or cannot open."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from jetson_runtime.capture import (
    DECODE_THREAD,
    SourceError,
    frames,
    has_gstreamer,
    parse_source,
)


@pytest.fixture(scope="module")
def counter_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 40-frame clip whose frame k is a flat grey of level 5*k (readable after compression)."""
    path = tmp_path_factory.mktemp("clips") / "counter.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 48))
    for k in range(40):
        writer.write(np.full((48, 64, 3), 5 * k, np.uint8))
    writer.release()
    return path


def _level(frame) -> int:
    return round(float(frame.bgr.mean()) / 5)


@pytest.mark.parametrize(
    ("source", "kind", "target"),
    [
        ("rtsp://user:secret@127.0.0.1:8554/cam", "rtsp", "rtsp://user:secret@127.0.0.1:8554/cam"),
        ("RTSPS://127.0.0.1/cam", "rtsp", "RTSPS://127.0.0.1/cam"),
        ("/dev/video0", "v4l2", "/dev/video0"),
        ("2", "v4l2", 2),
    ],
)
def test_source_kinds(source: str, kind: str, target) -> None:
    spec = parse_source(source)
    assert (spec.kind, spec.target, spec.live) == (kind, target, True)


def test_file_source(counter_clip: Path) -> None:
    spec = parse_source(str(counter_clip))
    assert (spec.kind, spec.live) == ("file", False)


def test_gstreamer_pipeline_needs_an_opencv_with_gstreamer() -> None:
    pipeline = "nvarguscamerasrc ! nvvidconv ! video/x-raw,format=BGRx ! videoconvert ! appsink"
    if has_gstreamer():
        assert parse_source(pipeline).kind == "gstreamer"
        with pytest.raises(SourceError, match="appsink"):
            parse_source("videotestsrc ! fakesink")
    else:
        with pytest.raises(SourceError, match="built without GStreamer"):
            parse_source(pipeline)


@pytest.mark.parametrize(
    ("source", "message"),
    [("/no/such/clip.mp4", "no such file"), ("/dev/video97", "cannot open the v4l2 source")],
)
def test_sources_that_cannot_open(source: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        list(frames(parse_source(source)))


@pytest.mark.parametrize(
    ("every_n", "max_frames", "indices"),
    [
        (1, None, list(range(40))),
        (5, None, list(range(0, 40, 5))),
        (7, None, list(range(0, 40, 7))),
        (3, 4, [0, 3, 6, 9]),
    ],
)
def test_exact_sampling(counter_clip: Path, every_n: int, max_frames, indices) -> None:
    got = list(frames(parse_source(str(counter_clip)), every_n, max_frames))
    assert [f.index for f in got] == indices
    assert [_level(f) for f in got] == indices  # the pixels are those of that frame


def test_decoding_runs_in_its_own_thread(counter_clip: Path) -> None:
    seen = set()
    for _ in frames(parse_source(str(counter_clip)), prefetch=2):
        seen |= {t.name for t in threading.enumerate() if t is not threading.current_thread()}
    assert DECODE_THREAD in seen
    with pytest.raises(SourceError, match="every_n"):
        next(frames(parse_source(str(counter_clip)), every_n=0))


def test_header_promising_more_frames_than_decode(cases_dir: Path) -> None:
    # Shared case R02: the header says 100 frames, 46 decode; the source ends cleanly at 46.
    clip = cases_dir / "R02" / "truncated_header100.mp4"
    got = list(frames(parse_source(str(clip)), every_n=10))
    assert [f.index for f in got] == [0, 10, 20, 30, 40]


def test_stopping_early_releases_the_decoder(counter_clip: Path) -> None:
    stream = frames(parse_source(str(counter_clip)), prefetch=1)
    assert next(stream).index == 0
    stream.close()  # the consumer stops: the decode thread must end, not hang
    assert DECODE_THREAD not in {t.name for t in threading.enumerate()}
