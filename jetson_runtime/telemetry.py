"""The telemetry contract and the device's spool: per-frame rows, batched to Parquet, uploaded.

One row per processed frame, columns in :data:`TELEMETRY_COLUMNS` order with one ``det_<class>``
column per class of the bundle inserted after ``n_detections`` (see :func:`telemetry_columns`).

The spool never loses a row: each row is appended to a journal (``open/<batch_id>.jsonl``) as
it comes; a closed batch becomes ``pending/<batch_id>.parquet`` (temp name + rename) and the
journal goes; an upload copies a pending batch to the inbox under the same name and only then
moves it to ``uploaded/``. A crash at any point leaves either the journal (recovered into the same
batch id at the next start) or the batch (uploaded again, under the same name). The batch id
never changes, so the fleet side dedupes by batch id and by ``row_id``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from jetson_runtime.inbox import Inbox, InboxError, open_inbox
from jetson_runtime.parquet import UTC, Column, encode_table

LOG = logging.getLogger(__name__)

DETECTION_PREFIX = "det_"
UNKNOWN_CAMERA = "unknown"

# Column name -> kind, in contract order. det_<class> columns go after n_detections.
COLUMN_KINDS: dict[str, str] = {
    "batch_id": "string",
    "row_id": "string",
    "device_id": "string",
    "ts": "timestamp",
    "source": "string",
    "frame_index": "int",
    "camera_model": "string",
    "model_version": "string",
    "provider": "string",
    "width": "int",
    "height": "int",
    "brightness": "float",
    "contrast": "float",
    "blur": "float",
    "overexposed_share": "float",
    "underexposed_share": "float",
    "n_detections": "int",
    "mean_confidence": "float",
    "max_confidence": "float",
    "empty": "bool",
    "retries": "int",
    "latency_ms": "float",
    "preprocess_ms": "float",
    "inference_ms": "float",
    "postprocess_ms": "float",
    "fps": "float",
    "cpu_percent": "float",
    "mem_mb": "float",
    "gpu_percent": "float",
    "lat": "float",
    "lon": "float",
}
TELEMETRY_COLUMNS: tuple[str, ...] = tuple(COLUMN_KINDS)
SPOOL_FIELDS = ("batch_id", "row_id", "device_id")


def device_id_problem(device_id: str) -> str | None:
    """Return why ``device_id`` cannot name a device (it names files and folders), or None."""
    if not device_id or any(c in device_id for c in "/\\:") or device_id.startswith("."):
        return "must be a plain name without / \\ : that does not start with a dot"
    return None


class TelemetryError(ValueError):
    """A telemetry row that does not follow the contract."""


def detection_column(class_name: str) -> str:
    """Return the per-class count column of a class, e.g. ``det_white_line``."""
    return f"{DETECTION_PREFIX}{class_name}"


def telemetry_columns(class_names: Sequence[str]) -> tuple[str, ...]:
    """Return every column of a batch in order, the ``det_<class>`` columns included."""
    at = TELEMETRY_COLUMNS.index("n_detections") + 1
    per_class = tuple(detection_column(n) for n in class_names)
    return TELEMETRY_COLUMNS[:at] + per_class + TELEMETRY_COLUMNS[at:]


def column_kind(name: str) -> str:
    """Return the kind (``string``, ``int``, ``float``, ``bool``, ``timestamp``) of a column."""
    return "int" if name.startswith(DETECTION_PREFIX) else COLUMN_KINDS[name]


def encode_batch(rows: Sequence[dict[str, Any]], class_names: Sequence[str]) -> bytes:
    """Encode rows as one Parquet batch with the contract's columns and kinds.

    Raises:
        TelemetryError: When a row lacks a column.
    """
    names = telemetry_columns(class_names)
    columns = []
    for name in names:
        try:
            values = [row[name] for row in rows]
        except KeyError:
            raise TelemetryError(f"telemetry row lacks column {name!r}") from None
        columns.append(Column(name, column_kind(name), values, nullable=False))
    return encode_table(columns, created_by="jetson_runtime telemetry")


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["ts"] = row["ts"].astimezone(UTC).isoformat()
    return out


def _from_json(row: dict[str, Any]) -> dict[str, Any]:
    row["ts"] = datetime.fromisoformat(row["ts"])
    return row


@dataclass
class UploadReport:
    """What one upload pass did.

    Attributes:
        uploaded: Batch ids now in the inbox.
        pending: Batch ids still waiting.
        error: The error that stopped the pass, if any.
    """

    uploaded: list[str]
    pending: list[str]
    error: str | None = None


class TelemetrySpool:
    """Batches telemetry rows to Parquet on disk and uploads them at least once.

    Args:
        spool_dir: The device's spool folder (``open/``, ``pending/``, ``uploaded/``).
        device_id: This device's id (goes into batch ids and rows).
        class_names: The bundle's classes (the ``det_<class>`` columns).
        inbox: Where batches go: a folder, ``s3://...`` or an ``http(s)://`` PUT URL; None
            keeps them pending until an inbox is given.
        batch_rows: Close a batch after this many rows.
        batch_seconds: Close a batch this long after its first row.
    """

    def __init__(
        self,
        spool_dir: Path,
        device_id: str,
        class_names: Sequence[str],
        inbox: str | os.PathLike[str] | Inbox | None = None,
        *,
        batch_rows: int = 300,
        batch_seconds: float = 60.0,
    ) -> None:
        problem = device_id_problem(device_id)
        if problem is not None:
            raise TelemetryError(f"device id {device_id!r}: {problem}")
        self.root = Path(spool_dir)
        self.device_id = device_id
        self.class_names = tuple(class_names)
        self.inbox = open_inbox(inbox) if isinstance(inbox, str | os.PathLike) else inbox
        self.batch_rows = batch_rows
        self.batch_seconds = batch_seconds
        self._lock = threading.Lock()
        self._upload_lock = threading.Lock()
        self._batch_id: str | None = None
        self._journal: Any = None
        self._rows = 0
        self._opened_at = 0.0
        for sub in ("open", "pending", "uploaded"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.recover()

    # -- writing ----------------------------------------------------------------------------
    def _new_batch_id(self, ts: datetime) -> str:
        stamp = ts.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        return f"{self.device_id}_{stamp}_{uuid.uuid4().hex[:6]}"

    def add(self, row: dict[str, Any]) -> str:
        """Append one frame's row; closes the batch when it is full or old enough.

        Args:
            row: Every contract column except ``batch_id``, ``row_id`` and ``device_id``;
                ``ts`` a UTC datetime.

        Returns:
            The row id given to the row.

        Raises:
            TelemetryError: When a column is missing or unknown.
        """
        expected = set(telemetry_columns(self.class_names)) - set(SPOOL_FIELDS)
        if set(row) != expected:
            missing, extra = sorted(expected - set(row)), sorted(set(row) - expected)
            raise TelemetryError(f"telemetry row: missing {missing}, unknown {extra}")
        with self._lock:
            if self._batch_id is None:
                self._open(row["ts"])
            full = dict(row, batch_id=self._batch_id, device_id=self.device_id)
            full["row_id"] = f"{self._batch_id}:{self._rows}"
            self._journal.write(json.dumps(_jsonable(full)) + "\n")
            self._journal.flush()
            self._rows += 1
            if self._rows >= self.batch_rows or self._age() >= self.batch_seconds:
                self._close()
            return full["row_id"]

    def _open(self, ts: datetime) -> None:
        self._batch_id = self._new_batch_id(ts)
        self._journal = open(self.root / "open" / f"{self._batch_id}.jsonl", "a", encoding="utf-8")
        self._rows = 0
        self._opened_at = time.monotonic()

    def _age(self) -> float:
        return time.monotonic() - self._opened_at

    def _close(self) -> Path | None:
        if self._batch_id is None:
            return None
        self._journal.flush()
        os.fsync(self._journal.fileno())
        self._journal.close()
        journal = self.root / "open" / f"{self._batch_id}.jsonl"
        path = self._seal(journal)
        self._batch_id, self._journal, self._rows = None, None, 0
        return path

    def flush(self) -> Path | None:
        """Close the open batch now (if any) and return its pending file."""
        with self._lock:
            return self._close()

    def tick(self) -> None:
        """Close the open batch if it has grown older than ``batch_seconds``."""
        with self._lock:
            if self._batch_id is not None and self._age() >= self.batch_seconds:
                self._close()

    def _seal(self, journal: Path) -> Path | None:
        """Turn a journal into a pending Parquet batch of the same id; drop the journal."""
        rows = []
        for line in journal.read_text("utf-8").splitlines():
            try:
                rows.append(_from_json(json.loads(line)))
            except (ValueError, KeyError):
                LOG.warning("%s: dropped a torn last line (crash while writing)", journal.name)
        batch_id = journal.stem
        target = self.root / "pending" / f"{batch_id}.parquet"
        if rows:
            tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
            tmp.write_bytes(encode_batch(rows, self.class_names))
            os.replace(tmp, target)
            LOG.info("telemetry batch %s sealed: %d rows", batch_id, len(rows))
        journal.unlink()
        return target if rows else None

    def recover(self) -> list[str]:
        """Seal journals left by a crash into pending batches, under their own ids."""
        recovered = []
        for journal in sorted((self.root / "open").glob("*.jsonl")):
            if self._batch_id and journal.stem == self._batch_id:
                continue
            if self._seal(journal) is not None:
                recovered.append(journal.stem)
        for stale in (self.root / "pending").glob(".*.tmp"):
            stale.unlink()
        if recovered:
            LOG.warning("recovered %d telemetry batches left open by a crash", len(recovered))
        return recovered

    # -- uploading --------------------------------------------------------------------------
    def pending(self) -> list[Path]:
        """Return the batches waiting for upload, oldest first."""
        return sorted((self.root / "pending").glob("*.parquet"))

    def upload(self) -> UploadReport:
        """Upload every pending batch, oldest first, stopping at the first failure.

        Returns:
            What was uploaded and what is still pending.
        """
        with self._upload_lock:
            done: list[str] = []
            if self.inbox is None:
                return UploadReport(done, [p.stem for p in self.pending()], "no inbox configured")
            for path in self.pending():
                try:
                    self.inbox.put(path.name, path.read_bytes())
                except InboxError as exc:
                    LOG.warning("upload of %s failed, kept for later: %s", path.stem, exc)
                    report = UploadReport(done, [p.stem for p in self.pending()], str(exc))
                    self._record(report)
                    return report
                os.replace(path, self.root / "uploaded" / path.name)
                done.append(path.stem)
            report = UploadReport(done, [])
            self._record(report)
            return report

    def _record(self, report: UploadReport) -> None:
        state = {
            "at": datetime.now(UTC).isoformat(),
            "uploaded": len(report.uploaded),
            "pending": len(report.pending),
            "error": report.error,
            "inbox": str(self.inbox) if self.inbox is not None else None,
        }
        previous = read_upload_state(self.root)
        if report.uploaded or previous.get("last_success") is None:
            state["last_success"] = state["at"] if report.uploaded else None
        else:
            state["last_success"] = previous.get("last_success")
        tmp = self.root / f".upload_state.{uuid.uuid4().hex[:8]}.tmp"
        tmp.write_text(json.dumps(state, indent=2), "utf-8")
        os.replace(tmp, self.root / "upload_state.json")

    def close(self) -> UploadReport:
        """Close the open batch and try one last upload."""
        self.flush()
        return self.upload()


def read_upload_state(spool_dir: Path) -> dict[str, Any]:
    """Return the last upload pass's record (empty before the first)."""
    try:
        return json.loads((Path(spool_dir) / "upload_state.json").read_text("utf-8"))
    except (OSError, ValueError):
        return {}


def nan_or(value: float | None) -> float:
    """Return ``value`` as float, NaN when None (unknown metrics are NaN, never 0)."""
    return math.nan if value is None else float(value)
