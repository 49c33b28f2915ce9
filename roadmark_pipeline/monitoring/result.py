"""The verdict of a drift report: status, columns, segments, and how the sensor keys events."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

STATUS_DRIFT = "drift"
STATUS_NO_DRIFT = "no_drift"
STATUS_INSUFFICIENT = "insufficient_data"
STATUSES = (STATUS_DRIFT, STATUS_NO_DRIFT, STATUS_INSUFFICIENT)

COLUMN_FIELDS = (
    "column",
    "group",
    "stattest",
    "score",
    "threshold",
    "drifted",
    "n_reference",
    "n_current",
    "evaluated",
    "note",
)


def _plain(value: Any) -> Any:
    """Turn numpy scalars and NaN into JSON-friendly Python values (NaN becomes None)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass(frozen=True)
class DriftResult:
    """The verdict of one drift comparison (overall, or one segment of it).

    Attributes:
        status: ``"drift"``, ``"no_drift"`` or ``"insufficient_data"``.
        drifted_share: Drifted / evaluated columns in the group where that share is largest
            (input or output); 0.0 when nothing was evaluated.
        columns: One row per candidate column with the fields in ``COLUMN_FIELDS``.
        n_reference: Rows in the reference.
        n_current: Rows in the current data.
        day: The day the current data covers (ISO date), or ``"undated"``.
        drift_share_threshold: The share at or above which the status is drift.
        group_shares: Drifted / evaluated columns per group (``input``, ``output``).
        segment: The segment value (for example a camera model); None for the overall result.
        reason: Why the status is insufficient_data; empty otherwise.
        segments: Results per segment value, keyed by that value.
        segment_column: The column the segments are values of (for example ``camera_model``).
        html_path: The HTML report, once written.
        json_path: This verdict as JSON, once written.
    """

    status: str
    drifted_share: float
    columns: pd.DataFrame
    n_reference: int
    n_current: int
    day: str
    drift_share_threshold: float
    group_shares: dict[str, float] = field(default_factory=dict)
    segment: str | None = None
    reason: str = ""
    segments: dict[str, DriftResult] = field(default_factory=dict)
    segment_column: str | None = None
    html_path: Path | None = None
    json_path: Path | None = None

    @property
    def drifted_columns(self) -> tuple[str, ...]:
        """Names of the columns that drifted."""
        return tuple(self.columns.loc[self.columns["drifted"].astype(bool), "column"])

    @property
    def evaluated_columns(self) -> tuple[str, ...]:
        """Names of the columns that went through a stattest."""
        return tuple(self.columns.loc[self.columns["evaluated"].astype(bool), "column"])

    @property
    def drifted_segments(self) -> tuple[str, ...]:
        """Segment values whose own status is drift."""
        return tuple(name for name, seg in self.segments.items() if seg.status == STATUS_DRIFT)

    @property
    def flagged(self) -> bool:
        """True when the overall data or any segment drifted: what the sensor acts on."""
        return self.status == STATUS_DRIFT or bool(self.drifted_segments)

    def event_signature(self) -> dict[str, list[str]]:
        """Return what drifted: ``{"overall": [...columns], "<segment>": [...columns]}``."""
        signature: dict[str, list[str]] = {}
        if self.status == STATUS_DRIFT:
            signature["overall"] = sorted(self.drifted_columns)
        for name in sorted(self.drifted_segments):
            signature[f"segment:{name}"] = sorted(self.segments[name].drifted_columns)
        return signature

    def event_key(self) -> str:
        """Return the stable id of this drift event, for a sensor's run keys.

        The key is the day plus a digest of what drifted (columns, overall and per segment), so
        re-running the same day's report gives the same key and a sensor requests runs once.

        Returns:
            ``"drift-<day>-<12 hex>"``, or ``""`` when nothing drifted (:attr:`flagged` False).
        """
        if not self.flagged:
            return ""
        text = json.dumps(self.event_signature(), sort_keys=True)
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
        return f"drift-{self.day}-{digest}"

    def to_metadata(self) -> dict[str, str | int | float | bool]:
        """Return a flat summary of simple values for Dagster asset metadata."""
        metadata: dict[str, str | int | float | bool] = {
            "status": self.status,
            "flagged": self.flagged,
            "day": self.day,
            "drifted_share": round(float(self.drifted_share), 4),
            "drift_share_threshold": float(self.drift_share_threshold),
            "drifted_share_input": round(self.group_shares.get("input", 0.0), 4),
            "drifted_share_output": round(self.group_shares.get("output", 0.0), 4),
            "n_reference": int(self.n_reference),
            "n_current": int(self.n_current),
            "columns_evaluated": len(self.evaluated_columns),
            "columns_drifted": ", ".join(self.drifted_columns),
            "segments_drifted": ", ".join(self.drifted_segments),
            "event_key": self.event_key(),
            "reason": self.reason,
            "html_path": str(self.html_path or ""),
            "json_path": str(self.json_path or ""),
        }
        for name, seg in sorted(self.segments.items()):
            metadata[f"segment/{name}"] = f"{seg.status} ({seg.drifted_share:.2f}, {seg.n_current})"
        return metadata

    def to_dict(self) -> dict[str, Any]:
        """Return the whole verdict (columns and segments included) as JSON-friendly values."""
        rows = [
            {key: _plain(value) for key, value in row.items()}
            for row in self.columns.to_dict(orient="records")
        ]
        return {
            "status": self.status,
            "flagged": self.flagged,
            "day": self.day,
            "segment": self.segment,
            "drifted_share": float(self.drifted_share),
            "drift_share_threshold": float(self.drift_share_threshold),
            "group_shares": dict(self.group_shares),
            "n_reference": int(self.n_reference),
            "n_current": int(self.n_current),
            "reason": self.reason,
            "event_key": self.event_key() or None,
            "columns": rows,
            "segment_column": self.segment_column,
            "segments": {name: seg.to_dict() for name, seg in self.segments.items()},
            "html_path": str(self.html_path) if self.html_path else None,
        }

    def with_paths(self, html_path: Path | None, json_path: Path | None) -> DriftResult:
        """Return a copy that records where its files were written."""
        return replace(self, html_path=html_path, json_path=json_path)

    def with_segments(self, segments: dict[str, DriftResult], column: str | None) -> DriftResult:
        """Return a copy holding the results per value of the segment ``column``."""
        return replace(self, segments=segments, segment_column=column if segments else None)
