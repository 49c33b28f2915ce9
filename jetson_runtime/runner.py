"""The device's run loop: frames in, detections and telemetry out.

Decoding runs ahead in its own thread (:mod:`jetson_runtime.capture`), evidence frames are
anonymised and written by another, and uploads happen in the background, so the main thread
does pre-processing, inference and post-processing only.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from jetson_runtime.anonymise import AnonymiseError, Anonymiser, write_evidence
from jetson_runtime.bundle import Bundle
from jetson_runtime.capture import Frame, SourceSpec, frames, parse_source
from jetson_runtime.detector import Detector, Timing, detections_to_json
from jetson_runtime.gps import GpsTrack
from jetson_runtime.parquet import UTC
from jetson_runtime.postprocess import Detections
from jetson_runtime.quality import frame_quality
from jetson_runtime.storage import StoragePolicy
from jetson_runtime.sysmetrics import ProcessMeter, gpu_percent
from jetson_runtime.telemetry import (
    UNKNOWN_CAMERA,
    TelemetryError,
    TelemetrySpool,
    detection_column,
)

LOG = logging.getLogger(__name__)
HOUSEKEEPING_EVERY = 50


@dataclass
class RunSummary:
    """What one run did.

    Attributes:
        frames: Frames processed (after sampling).
        detections: Detections over all frames.
        per_class: Detections per class name.
        seconds: Wall time of the loop.
        fps: Frames processed per second of wall time.
        provider: Backend that ran the model.
        model_version: The bundle's model version.
        mean_latency_ms: Mean pre-processing + inference + post-processing time.
        mean_decode_ms: Mean decode time per processed frame (skipped frames included).
        mean_inference_ms: Mean ``session.run`` time.
        evidence_saved: Anonymised evidence frames written.
        evidence_dropped: Evidence frames dropped because the writer fell behind.
        uploaded: Telemetry batches uploaded during the run.
        pending: Telemetry batches still waiting for upload.
    """

    frames: int = 0
    detections: int = 0
    per_class: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    fps: float = 0.0
    provider: str = ""
    model_version: str = ""
    mean_latency_ms: float = math.nan
    mean_decode_ms: float = math.nan
    mean_inference_ms: float = math.nan
    evidence_saved: int = 0
    evidence_dropped: int = 0
    uploaded: int = 0
    pending: int = 0


def source_label(spec: SourceSpec) -> str:
    """Return how a source is named in telemetry (file name; URL without credentials)."""
    if spec.kind == "file":
        return Path(str(spec.target)).name
    if spec.kind == "rtsp":
        parts = urllib.parse.urlsplit(str(spec.target))
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    if spec.kind == "v4l2":
        return f"/dev/video{spec.target}" if isinstance(spec.target, int) else str(spec.target)
    return "gstreamer"


class EvidenceWriter:
    """Anonymises and stores evidence frames in a background thread.

    Keeps a frame with detections when at least ``detection_gap`` processed frames passed since
    the last one kept, and one frame in ``empty_every`` without detections (the drift side
    wants to see those too). Drops frames, and counts them, rather than slow the run loop when
    it falls behind.
    """

    def __init__(
        self,
        folder: Path,
        class_names: tuple[str, ...],
        detection_gap: int = 10,
        empty_every: int = 100,
    ) -> None:
        self.folder = folder
        self.class_names = class_names
        self.detection_gap = detection_gap
        self.empty_every = empty_every
        self.anonymise = Anonymiser()
        self.saved = 0
        self.dropped = 0
        self._last_kept = -detection_gap
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=8)
        self._thread = threading.Thread(target=self._work, daemon=True)
        self._thread.start()

    def wanted(self, found: Detections, seq: int) -> bool:
        """Return True when the keeping rule wants the ``seq``-th processed frame."""
        if len(found):
            return seq - self._last_kept >= self.detection_gap
        return seq % self.empty_every == 0

    def offer(self, frame: Frame, found: Detections, record: dict[str, Any], seq: int) -> None:
        """Queue a frame for storage if the keeping rule wants it."""
        if not self.wanted(found, seq):
            return
        record = dict(record, detections=detections_to_json(found, self.class_names))
        try:
            self._queue.put_nowait((frame.bgr, record))
            if len(found):
                self._last_kept = seq
        except queue.Full:
            self.dropped += 1

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            bgr, record = item
            clean, regions = self.anonymise(bgr)
            record["anonymised_regions"] = regions
            name = f"{record['stamp']}_{record['frame_index']:07d}_n{record['n_detections']}"
            write_evidence(self.folder, name, clean, record)
            self.saved += 1

    def close(self) -> None:
        """Finish the queued frames."""
        self._queue.put(None)
        self._thread.join()


class BackgroundUploader:
    """Uploads pending telemetry every ``interval`` seconds until stopped."""

    def __init__(self, spool: TelemetrySpool, interval: float = 10.0) -> None:
        self.spool = spool
        self.interval = interval
        self.uploaded = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while not self._stop.wait(self.interval):
            self.spool.tick()
            self.uploaded += len(self.spool.upload().uploaded)

    def stop(self) -> None:
        """Stop the thread (the caller makes the final upload)."""
        self._stop.set()
        self._thread.join()


class RowBuilder:
    """Builds the telemetry row of each processed frame (all but the spool's own columns).

    Args:
        detector: The detector running the frames (model version, provider, classes).
        source: The source's telemetry label.
        camera_model: The camera's model.
        gps: Positions by source time, or None.
    """

    def __init__(
        self, detector: Detector, source: str, camera_model: str, gps: GpsTrack | None
    ) -> None:
        self.detector = detector
        self.source = source
        self.camera_model = camera_model
        self.gps = gps
        self.meter = ProcessMeter()
        self._last_done = 0.0
        self._fps = math.nan

    def _tick_fps(self) -> float:
        now = time.perf_counter()
        if self._last_done:
            instant = 1.0 / max(now - self._last_done, 1e-6)
            self._fps = instant if math.isnan(self._fps) else 0.9 * self._fps + 0.1 * instant
        self._last_done = now
        return self._fps

    def __call__(self, frame: Frame, found: Detections, timing: Timing) -> dict[str, Any]:
        """Return the row of one frame."""
        names = self.detector.config.class_names
        lat, lon = self.gps.at(frame.pts_ms) if self.gps else (math.nan, math.nan)
        counts = np.bincount(found.class_ids, minlength=len(names))
        row: dict[str, Any] = {
            "ts": datetime.fromtimestamp(frame.wall, UTC),
            "source": self.source,
            "frame_index": frame.index,
            "camera_model": self.camera_model,
            "model_version": self.detector.config.model_version,
            "provider": self.detector.provider,
            "width": int(frame.bgr.shape[1]),
            "height": int(frame.bgr.shape[0]),
            **(frame.quality if frame.quality is not None else frame_quality(frame.bgr)),
            "n_detections": len(found),
            "mean_confidence": float(found.scores.mean()) if len(found) else math.nan,
            "max_confidence": float(found.scores.max()) if len(found) else math.nan,
            "empty": len(found) == 0,
            "retries": frame.retries,
            "latency_ms": timing.latency_ms,
            "preprocess_ms": timing.preprocess_ms,
            "inference_ms": timing.inference_ms,
            "postprocess_ms": timing.postprocess_ms,
            "fps": self._tick_fps(),
            "cpu_percent": self.meter.cpu_percent(),
            "mem_mb": self.meter.mem_mb(),
            "gpu_percent": gpu_percent(),
            "lat": lat,
            "lon": lon,
        }
        for class_id, name in enumerate(names):
            row[detection_column(name)] = int(counts[class_id])
        return row


def _evidence_writer(evidence_dir: Path | None, bundle: Bundle) -> EvidenceWriter | None:
    if evidence_dir is None:
        return None
    try:
        return EvidenceWriter(evidence_dir, bundle.config.class_names)
    except AnonymiseError as exc:
        LOG.error("evidence frames disabled: %s", exc)
        return None


def evidence_record(row: dict[str, Any]) -> dict[str, Any]:
    """Return what an evidence frame's JSON keeps of its telemetry row."""
    record = {key: row[key] for key in ("frame_index", "n_detections", "lat", "lon")}
    record["ts"] = row["ts"].isoformat()
    record["stamp"] = row["ts"].strftime("%Y%m%dT%H%M%S%fZ")
    return record


def _account(
    summary: RunSummary,
    totals: dict[str, float],
    frame: Frame,
    found: Detections,
    timing: Timing,
    class_names: tuple[str, ...],
) -> None:
    summary.frames += 1
    summary.detections += len(found)
    for class_id in found.class_ids:
        summary.per_class[class_names[int(class_id)]] += 1
    totals["latency"] += timing.latency_ms
    totals["decode"] += frame.decode_ms
    totals["inference"] += timing.inference_ms


def _wind_down(
    summary: RunSummary,
    spool: TelemetrySpool,
    uploader: BackgroundUploader,
    evidence: EvidenceWriter | None,
    storage: StoragePolicy | None,
) -> None:
    """Stop the helpers, seal and upload the last batch, apply the storage rule."""
    uploader.stop()
    if evidence is not None:
        evidence.close()
        summary.evidence_saved, summary.evidence_dropped = evidence.saved, evidence.dropped
    report = spool.close()
    summary.uploaded = uploader.uploaded + len(report.uploaded)
    summary.pending = len(report.pending)
    if storage is not None:
        storage.enforce()


def _finish(summary: RunSummary, totals: dict[str, float], started: float) -> None:
    summary.seconds = time.perf_counter() - started
    summary.fps = summary.frames / summary.seconds if summary.seconds > 0 else 0.0
    if summary.frames:
        summary.mean_latency_ms = totals["latency"] / summary.frames
        summary.mean_decode_ms = totals["decode"] / summary.frames
        summary.mean_inference_ms = totals["inference"] / summary.frames


def run_source(
    source: str,
    bundle: Bundle,
    *,
    spool: TelemetrySpool,
    every_n: int = 1,
    device_id: str,
    camera_model: str | None = None,
    evidence_dir: Path | None = None,
    max_frames: int | None = None,
    detector: Detector | None = None,
    cache_root: Path | None = None,
    gps: GpsTrack | None = None,
    storage: StoragePolicy | None = None,
    upload_interval: float = 10.0,
    on_first_frame: Callable[[], None] | None = None,
) -> RunSummary:
    """Run the bundle's model on a source, spooling one telemetry row per processed frame.

    Args:
        source: A video file, ``/dev/videoN``, an ``rtsp://`` URL or a GStreamer pipeline.
        bundle: The verified bundle to run.
        spool: Where telemetry goes (its device id must be ``device_id``).
        every_n: Process one frame in ``every_n``.
        device_id: This device's id.
        camera_model: The camera's model, ``unknown`` when None.
        evidence_dir: Where anonymised evidence frames go; none are kept when None.
        max_frames: Stop after this many processed frames.
        detector: An already open detector for ``bundle``; opened here when None.
        cache_root: TensorRT engine caches (when the detector is opened here).
        gps: Positions by source time; NaN positions when None.
        storage: The storage rule, applied every few dozen frames and at the end.
        upload_interval: Seconds between background upload passes.
        on_first_frame: Called once the first frame is processed (a start counts as good).

    Returns:
        The run's summary.

    Raises:
        SourceError: When the source cannot be opened.
        TelemetryError: When ``spool`` belongs to another device.
    """
    if spool.device_id != device_id:
        raise TelemetryError(f"spool is for device {spool.device_id!r}, not {device_id!r}")
    spec = parse_source(source)
    detector = detector or Detector.open(bundle, cache_root or spool.root.parent / "engine_cache")
    build_row = RowBuilder(detector, source_label(spec), camera_model or UNKNOWN_CAMERA, gps)
    summary = RunSummary(provider=detector.provider, model_version=bundle.config.model_version)
    summary.per_class = dict.fromkeys(bundle.config.class_names, 0)
    totals = {"latency": 0.0, "decode": 0.0, "inference": 0.0}
    evidence = _evidence_writer(evidence_dir, bundle)
    uploader = BackgroundUploader(spool, upload_interval)
    started = time.perf_counter()
    try:
        prepare = getattr(detector, "prepare", None)
        for frame in frames(spec, every_n, max_frames, prepare=prepare):
            if frame.prepared is not None:
                found, timing = detector.detect(frame.prepared)
            else:
                found, timing = detector(frame.bgr)
            row = build_row(frame, found, timing)
            spool.add(row)
            if evidence is not None:
                evidence.offer(frame, found, evidence_record(row), summary.frames)
            _account(summary, totals, frame, found, timing, bundle.config.class_names)
            if summary.frames == 1 and on_first_frame is not None:
                on_first_frame()
            if storage is not None and summary.frames % HOUSEKEEPING_EVERY == 0:
                storage.enforce()
    finally:
        _finish(summary, totals, started)
        _wind_down(summary, spool, uploader, evidence, storage)
    LOG.info(
        "run of %s: %d frames, %d detections, %.1f fps on %s",
        build_row.source,
        summary.frames,
        summary.detections,
        summary.fps,
        summary.provider,
    )
    return summary
