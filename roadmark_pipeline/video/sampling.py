"""Sampling frames from a source: choose, judge, anonymise, write, and describe each one.

Decoding runs in its own thread (PyAV and FFmpeg release the GIL while they decode), and only
the frames the policy takes are converted to pixels, so quality, anonymisation and JPEG
encoding overlap with the decoding of the frames in between.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import av.container
import av.stream
import numpy as np
import numpy.typing as npt
import pandas as pd

from roadmark_pipeline.ids import frame_id, sha256_file
from roadmark_pipeline.lake import staged_dir, write_parquet_atomic
from roadmark_pipeline.video.anonymise import Anonymiser, HaarAnonymiser
from roadmark_pipeline.video.camera import resolve_camera
from roadmark_pipeline.video.decode import (
    decoded_frames,
    frame_rotation,
    open_video,
    upright_bgr,
)
from roadmark_pipeline.video.errors import UnreadableSourceError
from roadmark_pipeline.video.gps import geotag, parse_creation_time
from roadmark_pipeline.video.policy import THUMB_WH, FrameSelector, SamplingPolicy, StaticFilter
from roadmark_pipeline.video.probe import SourceInfo
from roadmark_pipeline.video.quality import QualityThresholds
from roadmark_pipeline.video.still import is_still, load_still
from roadmark_pipeline.video.writer import MANIFEST_COLUMNS, FrameWriter, Sample

__all__ = ["MANIFEST_COLUMNS", "SamplingPolicy", "sample_source"]

LOG = logging.getLogger(__name__)

# Decoded samples waiting for the writer; small, so memory stays flat on long drives.
_QUEUE_DEPTH = 4
_DONE = object()


@dataclass
class _SourceFacts:
    sha256: str
    camera_make: str | None
    camera_model: str | None
    start: datetime | None = None
    decoded: int = 0
    skipped_static: int = 0


def sample_source(
    path: str | Path,
    out_dir: str | Path,
    policy: SamplingPolicy,
    *,
    info: SourceInfo | None = None,
    anonymiser: Anonymiser | None = None,
    keep_originals: bool = False,
    jpeg_quality: int = 95,
    thresholds: QualityThresholds | None = None,
    manifest_name: str | None = None,
) -> pd.DataFrame:
    """Sample a video (or a still) into upright, anonymised JPEGs and return their manifest.

    ``out_dir`` belongs to the sampler and is rebuilt as a whole: frames are written to a
    staging folder that replaces it only when every frame is done, so a failed run leaves the
    previous content intact, and a finished run deletes whatever else the folder held. The
    pipeline calls this on lake folders it owns; a caller that does not own ``out_dir`` must
    check it first (``roadmark sample`` refuses a folder that holds anything but a previous
    sample output: ``video.cli.out_dir_problem``).

    Args:
        path: The video or still image.
        out_dir: Folder for ``<frame_index:06d>.jpg`` (and ``originals/`` when kept).
        policy: Which frames to take.
        info: The source's probe, when already known (saves hashing and tag reading).
        anonymiser: Finds faces and plates; None means the default :class:`HaarAnonymiser`.
            Pass a ``NullAnonymiser`` only in tests and benchmarks: its frames are marked
            ``anonymised=False`` and the blocking check stops them.
        keep_originals: Also keep the unblurred frames under ``out_dir/originals/``.
        jpeg_quality: JPEG quality, 1-100.
        thresholds: Quality limits; :class:`QualityThresholds` defaults when None.
        manifest_name: When given, the manifest is also written as Parquet under this name
            inside ``out_dir``, in the same atomic swap.

    Returns:
        One row per sampled frame, columns :data:`MANIFEST_COLUMNS`.

    Raises:
        UnreadableSourceError: When the source cannot be decoded at all.
        ValueError: When ``jpeg_quality`` is outside 1-100 or ``out_dir`` is a file.
    """
    if not 1 <= int(jpeg_quality) <= 100:
        raise ValueError(f"jpeg_quality={jpeg_quality}: must be within 1-100, e.g. 95")
    source, final = Path(path), Path(out_dir).absolute()
    if final.exists() and not final.is_dir():
        raise ValueError(f"{final}: is a file, not a folder; pass a folder for the frames")
    writer = FrameWriter(
        final_dir=final,
        anonymiser=anonymiser if anonymiser is not None else HaarAnonymiser(),
        thresholds=thresholds or QualityThresholds(),
        jpeg_quality=int(jpeg_quality),
        keep_originals=keep_originals,
        rule=policy.rule,
    )
    if is_still(source):
        manifest = _sample_still(source, final, writer, info, manifest_name)
    else:
        manifest = _sample_video(source, final, writer, policy, info, manifest_name)
    LOG.info(
        "%s: %d frames written to %s (%d usable, %d regions blurred)",
        source.name,
        len(manifest),
        final,
        int(manifest["usable"].sum()),
        int(manifest["regions_blurred"].sum()),
    )
    return manifest


def _sample_still(
    source: Path,
    final: Path,
    writer: FrameWriter,
    info: SourceInfo | None,
    manifest_name: str | None,
) -> pd.DataFrame:
    # TODO(stills get no position from EXIF GPS tags yet, when stills come from phones)
    still = load_still(source)
    facts = _facts(source, info, still.tags)
    with staged_dir(final) as stage:
        writer.stage_dir = stage
        rows = [writer.write(Sample(index=0, timestamp_ms=0.0, bgr=still.bgr), rule="still")]
        manifest = _manifest(rows, source, facts)
        _write_manifest(stage, manifest_name, manifest)
    return manifest


def _sample_video(
    source: Path,
    final: Path,
    writer: FrameWriter,
    policy: SamplingPolicy,
    info: SourceInfo | None,
    manifest_name: str | None,
) -> pd.DataFrame:
    with open_video(source) as (container, stream):
        facts = _facts(source, info, container.metadata, stream.metadata)
        facts.start = parse_creation_time(
            container.metadata.get("creation_time") or stream.metadata.get("creation_time")
        )
        with staged_dir(final) as stage:
            writer.stage_dir = stage
            # closing() stops the decoding thread before the container closes, even when
            # writing a frame fails half-way.
            with closing(_samples(container, stream, source, policy, facts)) as samples:
                rows = [writer.write(sample) for sample in samples]
            if facts.decoded == 0:
                raise UnreadableSourceError(
                    f"{source}: not one frame decodes; the file is damaged: copy it again from "
                    "the camera"
                )
            manifest = _manifest(rows, source, facts)
            _write_manifest(stage, manifest_name, manifest)
    LOG.info(
        "%s: %d frames decoded, %d taken by %s, %d skipped as standing still",
        source.name,
        facts.decoded,
        len(manifest),
        policy.rule,
        facts.skipped_static,
    )
    return manifest


def _samples(
    container: av.container.InputContainer,
    stream: av.stream.Stream,
    source: Path,
    policy: SamplingPolicy,
    facts: _SourceFacts,
) -> Iterator[Sample]:
    """Yield the chosen frames, decoded and converted in a background thread."""
    pending: queue.Queue[object] = queue.Queue(maxsize=_QUEUE_DEPTH)
    stop = threading.Event()
    worker = threading.Thread(
        target=_decode_into,
        args=(container, stream, source, policy, facts, pending, stop),
        name=f"decode-{source.name}",
        daemon=True,
    )
    worker.start()
    try:
        while True:
            item = pending.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while worker.is_alive():
            _drain(pending)
            worker.join(timeout=0.05)


def _decode_into(
    container: av.container.InputContainer,
    stream: av.stream.Stream,
    source: Path,
    policy: SamplingPolicy,
    facts: _SourceFacts,
    pending: queue.Queue[object],
    stop: threading.Event,
) -> None:
    """Decode every frame, pass the chosen ones on as upright BGR; errors go through the queue."""
    selector = FrameSelector(policy)
    static = StaticFilter(policy.static_threshold) if policy.skip_static else None
    rotation: int | None = None
    try:
        for decoded in decoded_frames(container, stream, source):
            if stop.is_set():
                return
            facts.decoded += 1
            if rotation is None:
                rotation = frame_rotation(decoded.frame, stream)
            if not selector.wants(decoded.index, decoded.timestamp_ms):
                continue
            if static is not None and static.is_repeat(_thumbnail(decoded.frame)):
                facts.skipped_static += 1
                continue
            bgr = upright_bgr(decoded.frame, rotation)
            _put(pending, Sample(decoded.index, decoded.timestamp_ms, bgr), stop)
        _put(pending, _DONE, stop)
    except BaseException as error:  # noqa: BLE001 - handed to the consuming thread to re-raise
        _put(pending, error, stop)


def _thumbnail(frame: av.video.frame.VideoFrame) -> npt.NDArray[np.uint8]:
    width, height = THUMB_WH
    return frame.reformat(width=width, height=height, format="gray").to_ndarray()


def _put(pending: queue.Queue[object], item: object, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            pending.put(item, timeout=0.1)
            return
        except queue.Full:
            continue


def _drain(pending: queue.Queue[object]) -> None:
    try:
        while True:
            pending.get_nowait()
    except queue.Empty:
        return


def _facts(source: Path, info: SourceInfo | None, *tag_sets: dict[str, str]) -> _SourceFacts:
    if info is not None:
        return _SourceFacts(info.sha256, info.camera_make, info.camera_model)
    make, model = resolve_camera(source, *tag_sets)
    return _SourceFacts(sha256_file(source), make, model)


def _manifest(rows: list[dict[str, object]], source: Path, facts: _SourceFacts) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=[c for c in MANIFEST_COLUMNS if c not in _SOURCE_COLUMNS])
    timestamps = table["timestamp_ms"].to_numpy(dtype=np.float64)
    lat, lon = geotag(source, timestamps, facts.start) if len(table) else ([], [])
    table["source_sha256"] = facts.sha256
    table["lat"] = np.asarray(lat, dtype=np.float64)
    table["lon"] = np.asarray(lon, dtype=np.float64)
    table["camera_make"] = facts.camera_make
    table["camera_model"] = facts.camera_model
    table["frame_id"] = [frame_id(facts.sha256, index) for index in table["frame_index"]]
    table["timestamp_ms"] = np.rint(timestamps).astype(np.int64)
    return table[list(MANIFEST_COLUMNS)].astype({"camera_make": "object", "camera_model": "object"})


_SOURCE_COLUMNS = ("frame_id", "source_sha256", "lat", "lon", "camera_make", "camera_model")


def _write_manifest(stage: Path, name: str | None, manifest: pd.DataFrame) -> None:
    if name:
        write_parquet_atomic(stage / name, manifest)
