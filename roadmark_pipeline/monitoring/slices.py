"""Fleet telemetry sliced by device, camera model and model version."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

LOG = logging.getLogger(__name__)

SLICE_KEYS = ("device_id", "camera_model", "model_version")
SUMMARY_COLUMNS = (
    *SLICE_KEYS,
    "frames",
    "first_ts",
    "last_ts",
    "provider",
    "fps_mean",
    "latency_p50_ms",
    "latency_p95_ms",
    "cpu_percent_mean",
    "mem_mb_max",
    "gpu_percent_mean",
    "retries",
    "brightness_mean",
    "detections_per_frame",
    "empty_share",
    "mean_confidence",
)


def _most_common(values: pd.Series) -> str:
    """Return the most frequent non-null value as text ('' when there is none)."""
    counts = values.dropna().astype(str).value_counts()
    return str(counts.index[0]) if len(counts) else ""


def _summarise(group: pd.DataFrame) -> dict[str, object]:
    """Return the summary numbers of one slice."""
    latency = group["latency_ms"].astype(float)
    return {
        "frames": len(group),
        "first_ts": group["ts"].min(),
        "last_ts": group["ts"].max(),
        "provider": _most_common(group["provider"]),
        "fps_mean": float(group["fps"].astype(float).mean()),
        "latency_p50_ms": float(latency.quantile(0.50)),
        "latency_p95_ms": float(latency.quantile(0.95)),
        "cpu_percent_mean": float(group["cpu_percent"].astype(float).mean()),
        "mem_mb_max": float(group["mem_mb"].astype(float).max()),
        "gpu_percent_mean": float(group["gpu_percent"].astype(float).mean()),
        "retries": int(group["retries"].sum()),
        "brightness_mean": float(group["brightness"].astype(float).mean()),
        "detections_per_frame": float(group["n_detections"].astype(float).mean()),
        "empty_share": float(group["empty"].astype(float).mean()),
        "mean_confidence": float(group["mean_confidence"].astype(float).mean()),
    }


def slice_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Summarise telemetry per device, camera model and model version.

    Args:
        table: Accepted telemetry rows (from :func:`monitoring.fleet.collect_inbox`).

    Returns:
        One row per slice with frame count, time span, provider, fps, latency p50/p95, CPU, memory,
        GPU, retries, mean brightness, detections per frame, share of empty frames and mean
        confidence (NaN where a slice has no value, for example no GPU reading). Empty, with the
        same columns, when the table is empty.
    """
    if table.empty:
        return pd.DataFrame(columns=list(SUMMARY_COLUMNS))

    keys = list(SLICE_KEYS)
    filled = table.assign(**{key: table[key].fillna("unknown").astype(str) for key in keys})
    rows = [
        {**dict(zip(keys, group_key, strict=True)), **_summarise(group)}
        for group_key, group in filled.groupby(keys, sort=True)
    ]
    summary = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    summary = summary.replace([np.inf, -np.inf], np.nan)
    LOG.info("sliced %d rows into %d device/camera/model slices", len(table), len(summary))
    return summary
