"""The telemetry batch schema as the pipeline checks it, and the check itself.

The edge runtime writes one Parquet file per device per interval, one row per processed frame
(see ``jetson_runtime.telemetry``). The pipeline trusts nothing it did not write: every batch is
checked here before a row of it joins a partition.
"""

from __future__ import annotations

import logging
from enum import Enum

import pandas as pd
from pandas.api import types as ptypes

LOG = logging.getLogger(__name__)

CLASS_COLUMN_PREFIX = "det_"


class Kind(Enum):
    """What a telemetry column must hold."""

    TEXT = "text"
    TIMESTAMP = "timestamp"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"


TELEMETRY_COLUMNS: dict[str, Kind] = {
    "batch_id": Kind.TEXT,
    "row_id": Kind.TEXT,
    "device_id": Kind.TEXT,
    "ts": Kind.TIMESTAMP,
    "source": Kind.TEXT,
    "frame_index": Kind.INTEGER,
    "camera_model": Kind.TEXT,
    "model_version": Kind.TEXT,
    "provider": Kind.TEXT,
    "width": Kind.INTEGER,
    "height": Kind.INTEGER,
    # input metrics (jetson_runtime.quality.frame_quality)
    "brightness": Kind.NUMBER,
    "contrast": Kind.NUMBER,
    "blur": Kind.NUMBER,
    "overexposed_share": Kind.NUMBER,
    "underexposed_share": Kind.NUMBER,
    # output metrics; det_<class> columns are checked separately
    "n_detections": Kind.INTEGER,
    "mean_confidence": Kind.NUMBER,
    "max_confidence": Kind.NUMBER,
    "empty": Kind.BOOLEAN,
    "retries": Kind.INTEGER,
    # software metrics
    "latency_ms": Kind.NUMBER,
    "preprocess_ms": Kind.NUMBER,
    "inference_ms": Kind.NUMBER,
    "postprocess_ms": Kind.NUMBER,
    "fps": Kind.NUMBER,
    "cpu_percent": Kind.NUMBER,
    "mem_mb": Kind.NUMBER,
    "gpu_percent": Kind.NUMBER,
    "lat": Kind.NUMBER,
    "lon": Kind.NUMBER,
}

SOFTWARE_COLUMNS = (
    "latency_ms",
    "preprocess_ms",
    "inference_ms",
    "postprocess_ms",
    "fps",
    "cpu_percent",
    "mem_mb",
    "gpu_percent",
)


def class_columns(frame: pd.DataFrame) -> list[str]:
    """Return the ``det_<class>`` columns of a telemetry table, in table order."""
    return [str(name) for name in frame.columns if str(name).startswith(CLASS_COLUMN_PREFIX)]


def _matches(series: pd.Series, kind: Kind) -> bool:
    """Return True when ``series`` can hold values of ``kind`` without loss."""
    if series.isna().all():
        return kind is not Kind.TIMESTAMP  # an all-null metric column is legal (e.g. gpu_percent)
    if kind is Kind.TEXT:
        return ptypes.is_string_dtype(series) or ptypes.is_object_dtype(series)
    if kind is Kind.TIMESTAMP:
        return ptypes.is_datetime64_any_dtype(series)
    if kind is Kind.BOOLEAN:
        return ptypes.is_bool_dtype(series)
    if kind is Kind.INTEGER:
        return ptypes.is_integer_dtype(series) and not ptypes.is_bool_dtype(series)
    return ptypes.is_numeric_dtype(series) and not ptypes.is_bool_dtype(series)


def _text_problems(frame: pd.DataFrame) -> list[str]:
    """Check that the text columns hold strings, not numbers stored as objects."""
    problems = []
    for name, kind in TELEMETRY_COLUMNS.items():
        if kind is not Kind.TEXT or name not in frame.columns:
            continue
        values = frame[name].dropna()
        if not values.map(lambda value: isinstance(value, str)).all():
            problems.append(f"column {name!r} must hold strings; found {values.map(type).iloc[0]}")
    return problems


def _identity_problems(frame: pd.DataFrame) -> list[str]:
    """Check batch_id / row_id: one batch per file, every row id present and of that batch."""
    problems = []
    if "batch_id" in frame.columns:
        batch_ids = frame["batch_id"].dropna().unique()
        if len(batch_ids) != 1 or frame["batch_id"].isna().any():
            problems.append(f"column 'batch_id' must hold one value; found {len(batch_ids)}")
    if "row_id" in frame.columns and frame["row_id"].isna().any():
        problems.append("column 'row_id' has empty values; every row needs '<batch_id>:<seq>'")
    if "ts" in frame.columns and frame["ts"].isna().any():
        problems.append("column 'ts' has empty values; every row needs a UTC timestamp")
    return problems


def validate_batch(frame: pd.DataFrame) -> list[str]:
    """Check one telemetry batch against the contract.

    Args:
        frame: The batch as read from its Parquet file.

    Returns:
        The problems found, each a sentence naming the column and what is expected; empty when
        the batch is fine.
    """
    if frame.empty:
        return ["the batch has no rows; a device uploads a batch only when it processed frames"]

    problems = []
    missing = [name for name in TELEMETRY_COLUMNS if name not in frame.columns]
    if missing:
        problems.append(f"missing columns {missing}; write batches with jetson_runtime.telemetry")

    for name, kind in TELEMETRY_COLUMNS.items():
        if name in frame.columns and not _matches(frame[name], kind):
            problems.append(f"column {name!r} has type {frame[name].dtype}; expected {kind.value}")
    for name in class_columns(frame):
        if not _matches(frame[name], Kind.INTEGER):
            problems.append(f"column {name!r} has type {frame[name].dtype}; expected integer")

    if not problems:
        problems.extend(_text_problems(frame))
        problems.extend(_identity_problems(frame))
    return problems


def utc_timestamps(series: pd.Series) -> pd.Series:
    """Return timestamps as tz-aware UTC; naive values are taken to be UTC already."""
    if getattr(series.dt, "tz", None) is None:
        return series.dt.tz_localize("UTC")
    return series.dt.tz_convert("UTC")
