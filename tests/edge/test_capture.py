"""Frame sources: kinds of --source, exact 1-in-N sampling with decode in its own thread, and
sources that end early or cannot open (or open but yield no frame)."""

from __future__ import annotations

import os
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
    open_capture,
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


@pytest.fixture(scope="module")
def junk_sources(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> dict[str, Path]:
    """Files OpenCV "opens" though no frame decodes (the tester's bad.jpg and trunc.mp4)."""
    folder = tmp_path_factory.mktemp("junk")
    text = folder / "bad.jpg"
    text.write_text("not an image\n")
    truncated = folder / "trunc.mp4"
    truncated.write_bytes((data_dir / "videos" / "test_video.mp4").read_bytes()[:100_000])
    return {"text": text, "truncated": truncated}


@pytest.mark.parametrize("kind", ["text", "truncated"])
def test_a_source_that_opens_but_yields_no_frame_is_not_open(
    junk_sources: dict[str, Path], kind: str
) -> None:
    path = junk_sources[kind]
    assert cv2.VideoCapture(str(path), cv2.CAP_FFMPEG).isOpened()  # what fooled the runtime
    with pytest.raises(SourceError, match=f"{path}: the file source opens but yields no frame"):
        open_capture(parse_source(str(path)))
    with pytest.raises(SourceError, match="yields no frame"):
        list(frames(parse_source(str(path))))


def test_the_frame_read_at_open_is_the_first_frame_of_the_run(counter_clip: Path) -> None:
    capture = open_capture(parse_source(str(counter_clip)))
    try:
        assert capture.grab()
        ok, first = capture.retrieve()
        assert ok and round(float(first.mean()) / 5) == 0 and capture.position_ms() == 0.0
        assert capture.grab()
        ok, second = capture.retrieve()
        assert ok and round(float(second.mean()) / 5) == 1 and capture.position_ms() == 40.0
    finally:
        capture.release()
    got = list(frames(parse_source(str(counter_clip))))
    assert len(got) == 40 and got[0].pts_ms == 0.0


def test_a_folder_source_says_it_is_a_folder(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=f"{tmp_path}: a folder, not a video file; pass one"):
        parse_source(str(tmp_path))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_says_so(counter_clip: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked.avi"
    locked.write_bytes(counter_clip.read_bytes())
    locked.chmod(0)
    with pytest.raises(SourceError, match="not readable by this user; check its permissions"):
        parse_source(str(locked))


def _audio_only_mp4(path: Path) -> Path:
    """An MP4 holding one AAC stream and no video (a dash-cam's sound track, say)."""
    import av

    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=44100)
        stream.layout = "mono"
        for k in range(20):
            frame = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts = 44100, k * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def test_an_empty_file_is_called_empty(tmp_path: Path) -> None:
    empty = tmp_path / "clip.mp4"
    empty.touch()
    with pytest.raises(SourceError) as caught:
        open_capture(parse_source(str(empty)))
    message = str(caught.value)
    assert message.startswith(f"{empty}: the file is empty (0 bytes)")
    assert "\n" not in message and "pass a complete H.264/H.265 video" in message


def test_an_audio_only_file_says_no_video_frame_could_be_read(tmp_path: Path) -> None:
    audio = _audio_only_mp4(tmp_path / "sound.mp4")
    assert audio.stat().st_size > 0
    with pytest.raises(SourceError) as caught:
        open_capture(parse_source(str(audio)))
    message = str(caught.value)
    assert message.startswith(f"{audio}: ")
    assert "no video frame could be read from it" in message and "audio only" in message
    assert "\n" not in message


def test_junk_that_opens_says_no_video_frame_could_be_read(junk_sources) -> None:
    for path in junk_sources.values():
        with pytest.raises(SourceError, match="no video frame could be read from it"):
            open_capture(parse_source(str(path)))
