"""From the device's spool to a drift verdict: the edge's real TelemetrySpool writes batches of
the shipped clips (day 1, the reference) and of a clip that looks like another camera (day 2)
into a folder inbox; the pipeline collects, dedupes, compares and samples frames to relabel."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jetson_runtime.telemetry import TelemetrySpool
from roadmark_pipeline.monitoring.drift import drift_report
from roadmark_pipeline.monitoring.fleet import collect_inbox
from roadmark_pipeline.monitoring.relabel import select_relabel_sample
from roadmark_pipeline.monitoring.schema import TELEMETRY_COLUMNS
from roadmark_pipeline.taxonomy import class_names

DAY1, DAY2 = dt.date(2025, 3, 13), dt.date(2025, 3, 14)


def rows_for(metrics: pd.DataFrame, day: dt.date, camera: str, seed: int) -> list[dict]:
    """Telemetry rows for measured frames; outputs drawn from one fixed distribution (no model
    runs here, so output metrics must not differ between the two days)."""
    rng = np.random.default_rng(seed)
    start = dt.datetime(day.year, day.month, day.day, 9, tzinfo=dt.UTC)
    rows = []
    for index, frame in enumerate(metrics.itertuples(index=False)):
        counts = {f"det_{name}": int(rng.poisson(0.3)) for name in class_names()}
        total = sum(counts.values())
        confidence = float(rng.uniform(0.3, 0.9)) if total else float("nan")
        rows.append(
            {
                "ts": start + dt.timedelta(seconds=index / 25),
                "source": f"{frame.clip}.mp4",
                "frame_index": index,
                "camera_model": camera,
                "model_version": "2025.03.01",
                "provider": "CPUExecutionProvider",
                "width": int(frame.width),
                "height": int(frame.height),
                **{
                    key: float(getattr(frame, key))
                    for key in TELEMETRY_COLUMNS
                    if key
                    in ("brightness", "contrast", "blur", "overexposed_share", "underexposed_share")
                },
                "n_detections": total,
                **counts,
                "mean_confidence": confidence,
                "max_confidence": confidence,
                "empty": total == 0,
                "retries": 0,
                "latency_ms": float(rng.normal(40, 4)),
                "preprocess_ms": 4.0,
                "inference_ms": 30.0,
                "postprocess_ms": 6.0,
                "fps": 25.0,
                "cpu_percent": 50.0,
                "mem_mb": 512.0,
                "gpu_percent": float("nan"),
                "lat": 35.0,
                "lon": 139.0,
            }
        )
    return rows


def spool_upload(tmp_path: Path, device: str, rows: list[dict], inbox: Path) -> list[str]:
    spool = TelemetrySpool(tmp_path / "spool" / device, device, class_names(), inbox, batch_rows=80)
    for row in rows:
        spool.add(row)
    return spool.close().uploaded


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, clip_metrics: pd.DataFrame, shifted_metrics: pd.DataFrame):
    root = tmp_path_factory.mktemp("fleet")
    inbox = root / "inbox"
    first, second = clip_metrics.iloc[::2], clip_metrics.iloc[1::2]
    spool_upload(root, "dev-01", rows_for(first, DAY1, "shipped", seed=1), inbox)
    spool_upload(root, "dev-01b", rows_for(second, DAY2, "shipped", seed=2), inbox)
    uploaded = spool_upload(root, "dev-07", rows_for(shifted_metrics, DAY2, "other-cam", 3), inbox)
    retry = inbox / "retry"  # an upload that went through twice
    retry.mkdir()
    shutil.copy(inbox / f"{uploaded[0]}.parquet", retry / f"{uploaded[0]}.parquet")
    return root, inbox


def test_shipped_clips_as_reference_then_other_camera_is_flagged(fleet) -> None:
    root, inbox = fleet
    day1 = collect_inbox(inbox, day=DAY1, seen_batch_ids=set(), quarantine_dir=root / "q")
    day2 = collect_inbox(inbox, day=DAY2, seen_batch_ids=set(), quarantine_dir=root / "q")

    assert day1.quarantined == [] and day2.quarantined == []
    assert len(day2.duplicates) == 1
    assert set(day2.table["camera_model"]) == {"shipped", "other-cam"}

    result = drift_report(day1.table, day2.table, out_dir=root / "reports" / str(DAY2), day=DAY2)

    assert result.flagged
    assert result.segments["shipped"].status == "no_drift"
    assert result.segments["other-cam"].status == "drift"
    assert {"brightness", "contrast"} <= set(result.segments["other-cam"].drifted_columns)
    assert result.group_shares["output"] < 0.5  # outputs were drawn from one distribution
    assert result.event_key() == result.to_metadata()["event_key"] != ""

    sample = select_relabel_sample(day2.table, result, n=25, seed=0)
    assert len(sample) == 25 and set(sample["camera_model"]) == {"other-cam"}
    assert sample["source"].str.endswith("_other.mp4").all()


def test_reference_day_against_itself_split_is_quiet(fleet) -> None:
    root, inbox = fleet
    day1 = collect_inbox(inbox, day=DAY1, seen_batch_ids=set(), quarantine_dir=root / "q")
    table = day1.table
    result = drift_report(
        table.iloc[::2], table.iloc[1::2], out_dir=root / "self", day=DAY1, segment_column=None
    )
    assert result.status == "no_drift" and not result.flagged
