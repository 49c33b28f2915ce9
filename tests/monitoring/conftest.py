"""Factories for telemetry batches and real frame metrics measured from the shipped clips."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from jetson_runtime.quality import frame_quality
from roadmark_pipeline.taxonomy import class_names

DAY = dt.date(2025, 3, 14)


def make_batch(
    batch_id: str,
    n: int = 40,
    *,
    device_id: str = "dev-01",
    camera_model: str = "cam-a",
    start: dt.datetime | None = None,
    seed: int = 0,
    metrics: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """A telemetry batch that follows the contract, one row per frame, 1 s apart.

    ``metrics`` (brightness ... underexposed_share rows) replaces the random input metrics.
    """
    rng = np.random.default_rng(seed)
    start = start or dt.datetime(DAY.year, DAY.month, DAY.day, 8, tzinfo=dt.UTC)
    n = len(metrics) if metrics is not None else n
    det = {f"det_{name}": rng.poisson(0.4, n).astype("int64") for name in class_names()}
    n_det = np.sum(list(det.values()), axis=0).astype("int64")
    conf = np.where(n_det > 0, rng.uniform(0.3, 0.9, n), np.nan)
    frame = pd.DataFrame(
        {
            "batch_id": batch_id,
            "row_id": [f"{batch_id}:{i}" for i in range(n)],
            "device_id": device_id,
            "ts": pd.date_range(start, periods=n, freq="1s"),
            "source": "csi://0",
            "frame_index": np.arange(n, dtype="int64"),
            "camera_model": camera_model,
            "model_version": "2025.03.01",
            "provider": "CPUExecutionProvider",
            "width": np.full(n, 1280, dtype="int64"),
            "height": np.full(n, 720, dtype="int64"),
            "brightness": rng.normal(120, 15, n),
            "contrast": rng.normal(50, 8, n),
            "blur": rng.normal(300, 60, n),
            "overexposed_share": rng.uniform(0, 0.05, n),
            "underexposed_share": rng.uniform(0, 0.05, n),
            "n_detections": n_det,
            **det,
            "mean_confidence": conf,
            "max_confidence": conf,
            "empty": n_det == 0,
            "retries": np.zeros(n, dtype="int64"),
            "latency_ms": rng.normal(40, 5, n),
            "preprocess_ms": rng.normal(5, 1, n),
            "inference_ms": rng.normal(30, 4, n),
            "postprocess_ms": rng.normal(5, 1, n),
            "fps": rng.normal(24, 1, n),
            "cpu_percent": rng.uniform(20, 60, n),
            "mem_mb": rng.uniform(400, 600, n),
            "gpu_percent": np.full(n, np.nan),
            "lat": rng.uniform(35.0, 35.1, n),
            "lon": rng.uniform(139.0, 139.1, n),
        }
    )
    if metrics is not None:
        for name in metrics.columns:
            frame[name] = metrics[name].to_numpy()
    return frame


@pytest.fixture
def batch_factory() -> Callable[..., pd.DataFrame]:
    """The :func:`make_batch` factory."""
    return make_batch


def measure_clip(path: Path, transform: Callable[[np.ndarray], np.ndarray] | None = None):
    """Decode every frame of a clip and measure it with the device's frame_quality."""
    capture = cv2.VideoCapture(str(path))
    rows = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frame = transform(frame) if transform else frame
        rows.append({**frame_quality(frame), "width": frame.shape[1], "height": frame.shape[0]})
    capture.release()
    return pd.DataFrame(rows)


def other_camera(frame: np.ndarray) -> np.ndarray:
    """Make a frame look like a different camera: darker, bluish, 640x360."""
    small = cv2.resize(frame, (640, 360), interpolation=cv2.INTER_AREA).astype(np.float32)
    small *= np.array([1.05, 0.6, 0.45], dtype=np.float32) * 0.8  # BGR: blue cast, darker
    return np.clip(small, 0, 255).astype(np.uint8)


def write_clip(frames_from: Path, out: Path, transform: Callable[[np.ndarray], np.ndarray]) -> Path:
    """Write a transformed copy of a clip with OpenCV, as the other camera would record it."""
    capture = cv2.VideoCapture(str(frames_from))
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    writer = None
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frame = transform(frame)
        if writer is None:
            size = (frame.shape[1], frame.shape[0])
            writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        writer.write(frame)
    capture.release()
    assert writer is not None, f"{frames_from}: no frames decoded"
    writer.release()
    return out


@pytest.fixture(scope="session")
def clip_metrics(data_dir: Path) -> pd.DataFrame:
    """Input metrics of every frame of the shipped clips, with the clip name."""
    parts = []
    for path in sorted((data_dir / "videos").glob("*.mp4")):
        metrics = measure_clip(path)
        parts.append(metrics.assign(clip=path.stem, camera_model="shipped"))
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="session")
def shifted_metrics(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """Input metrics of the shipped clips re-recorded as another camera would (mp4, OpenCV)."""
    folder = tmp_path_factory.mktemp("other_camera")
    parts = []
    for path in sorted((data_dir / "videos").glob("*.mp4")):
        clip = write_clip(path, folder / f"{path.stem}_other.mp4", other_camera)
        parts.append(measure_clip(clip).assign(clip=clip.stem, camera_model="other-cam"))
    return pd.concat(parts, ignore_index=True)
