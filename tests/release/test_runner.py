"""The run loop in process: a real ONNX Runtime session on a real clip, telemetry rows, GPS,
anonymised evidence, the storage rule, and the health check's comparison rules."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from jetson_runtime.bundle import load_bundle
from jetson_runtime.capture import SourceSpec
from jetson_runtime.detector import Detector
from jetson_runtime.gps import GpsTrack
from jetson_runtime.health import check_health, compare_frame
from jetson_runtime.runner import run_source, source_label
from jetson_runtime.slots import DeviceLayout
from jetson_runtime.storage import StoragePolicy
from jetson_runtime.telemetry import TelemetryError, TelemetrySpool


@pytest.fixture
def bundle(make_release):
    return load_bundle(make_release("1.0.0"))


def test_run_source_end_to_end(bundle, tmp_path: Path, data_dir: Path) -> None:
    layout = DeviceLayout(tmp_path / "device")
    track = tmp_path / "gps.csv"
    track.write_text("t_ms,lat,lon\n0,35.0,139.0\n1000,35.001,139.002\n")
    spool = TelemetrySpool(layout.spool, "dev-1", bundle.config.class_names, str(tmp_path / "in"))
    started = []

    summary = run_source(
        str(data_dir / "videos" / "project_video_cut.mp4"),  # 76 frames at 25 fps
        bundle,
        spool=spool,
        every_n=3,
        device_id="dev-1",
        evidence_dir=layout.evidence,
        gps=GpsTrack.from_csv(track),
        storage=StoragePolicy(layout, max_bytes=50 * 2**20),
        on_first_frame=lambda: started.append(True),
    )

    assert summary.frames == 26 and started == [True]
    assert summary.provider == "cpu" and summary.pending == 0
    assert summary.detections == sum(summary.per_class.values()) > 0
    table = pd.concat(pd.read_parquet(p) for p in (tmp_path / "in").glob("*.parquet"))
    assert len(table) == 26 and set(table["camera_model"]) == {"unknown"}
    inside = table["frame_index"] * 40 <= 1000  # 40 ms per frame
    assert table.loc[inside, "lat"].between(35.0, 35.001).all()
    assert table.loc[~inside, "lat"].isna().all()
    assert (table["latency_ms"] >= table["inference_ms"]).all() and table["fps"].iloc[1:].gt(
        0
    ).all()
    assert table["cpu_percent"].notna().all() and table["mem_mb"].gt(10).all()

    records = [json.loads(p.read_text()) for p in sorted(layout.evidence.glob("*.json"))]
    assert len(records) == summary.evidence_saved > 0
    assert all("anonymised_regions" in r and r["detections"] for r in records if r["n_detections"])


def test_spool_of_another_device_is_refused(bundle, tmp_path: Path, data_dir: Path) -> None:
    spool = TelemetrySpool(tmp_path, "dev-2", bundle.config.class_names)
    with pytest.raises(TelemetryError, match="dev-2"):
        run_source(str(data_dir / "videos" / "test_video.mp4"), bundle, spool=spool,
                   device_id="dev-1")  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "label"),
    [
        (SourceSpec("rtsp", "rtsp://user:pw@10.0.0.5:554/stream?x=1", 0),
         "rtsp://10.0.0.5:554/stream"),
        (SourceSpec("file", "/data/drive/clip.mp4", 0), "clip.mp4"),
        (SourceSpec("v4l2", 1, 0), "/dev/video1"),
        (SourceSpec("gstreamer", "nvarguscamerasrc ! appsink", 0), "gstreamer"),
    ],
)  # fmt: skip
def test_source_labels_carry_no_credentials(spec: SourceSpec, label: str) -> None:
    assert source_label(spec) == label


def test_health_check_passes_on_its_own_release(bundle, tmp_path: Path) -> None:
    result = check_health(bundle, Detector.open(bundle, tmp_path))
    assert result.ok and result.frames == 2 and result.detections > 0


THRESHOLDS = (0.3, 0.3)
TOL = {"iou": 0.8, "score": 0.1}


def _det(class_id: int, score: float, xyxy=(10, 10, 50, 50)) -> dict:
    return {"class_id": class_id, "class_name": f"c{class_id}", "score": score, "xyxy": list(xyxy)}


@pytest.mark.parametrize(
    ("expected", "found", "problems"),
    [
        ([_det(0, 0.8)], [_det(0, 0.78, (11, 10, 51, 50))], 0),  # small shift: same detection
        ([_det(0, 0.8)], [], 1),  # a clear detection went missing
        ([], [_det(1, 0.9)], 1),  # a clear detection appeared
        ([_det(0, 0.8)], [_det(1, 0.8)], 2),  # class changed
        ([_det(0, 0.8)], [_det(0, 0.5)], 2),  # score moved too far
        ([_det(0, 0.35)], [], 0),  # near the threshold (FP16 may drop it): not checked
        ([_det(0, 0.8)], [_det(0, 0.8, (30, 30, 70, 70))], 2),  # box moved
    ],
)
def test_probe_comparison_rules(expected, found, problems: int) -> None:
    assert len(compare_frame("f.jpg", expected, found, THRESHOLDS, TOL)) == problems


def test_unknown_metrics_are_nan_not_zero(bundle, tmp_path: Path, data_dir: Path) -> None:
    spool = TelemetrySpool(tmp_path, "dev-1", bundle.config.class_names)
    run_source(str(data_dir / "videos" / "test_video.mp4"), bundle, spool=spool,
               device_id="dev-1", max_frames=3)  # fmt: skip
    table = pd.read_parquet(next((tmp_path / "pending").glob("*.parquet")))
    assert len(table) == 3
    assert table["gpu_percent"].isna().all() and table["lat"].isna().all()
    empty = table[table["empty"]]
    assert empty["mean_confidence"].isna().all() and (empty["n_detections"] == 0).all()
    assert not math.isnan(table["brightness"].iloc[0])
