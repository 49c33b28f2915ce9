"""Fleet telemetry in: batches from the inbox, deduplicated, checked, bad ones quarantined.

Devices upload at least once, so the same batch (and the same frame row inside a re-cut batch)
may arrive twice; rows are kept once by batch id and by row id. A batch that is not Parquet, is
empty or breaks the schema is copied into the quarantine folder with a reason file beside it;
nothing in the inbox is changed or deleted.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from roadmark_pipeline.lake import as_path, write_bytes_atomic, write_json_atomic
from roadmark_pipeline.monitoring.schema import utc_timestamps, validate_batch
from roadmark_pipeline.monitoring.slices import slice_summary

LOG = logging.getLogger(__name__)

BATCH_SUFFIX = ".parquet"
REASON_SUFFIX = ".reason.json"

__all__ = ["FleetBatches", "collect_inbox", "slice_summary", "validate_batch"]


@dataclass
class FleetBatches:
    """What one pass over the inbox found.

    Attributes:
        table: The accepted rows of the day, one per frame, sorted by ``ts`` then ``device_id``.
        accepted: Batch ids that contributed rows.
        duplicates: Batch ids skipped because they were seen before or appear twice.
        quarantined: ``(file, reason)`` for every batch set aside.
        other_days: Valid batch ids with no row on the requested day.
        duplicate_rows: Rows dropped because their ``row_id`` was already taken.
    """

    table: pd.DataFrame
    accepted: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    quarantined: list[tuple[str, str]] = field(default_factory=list)
    other_days: list[str] = field(default_factory=list)
    duplicate_rows: int = 0

    def to_metadata(self) -> dict[str, Any]:
        """Return the counts as simple values for asset metadata."""
        return {
            "rows": len(self.table),
            "batches_accepted": len(self.accepted),
            "batches_duplicate": len(self.duplicates),
            "batches_quarantined": len(self.quarantined),
            "batches_other_days": len(self.other_days),
            "rows_duplicate": self.duplicate_rows,
            "devices": int(self.table["device_id"].nunique()) if len(self.table) else 0,
        }


def _list_batches(inbox: Any) -> list[Any]:
    """Return the batch files under ``inbox`` (any depth), skipping hidden and temporary names."""
    if not inbox.exists():
        raise FileNotFoundError(
            f"{inbox}: fleet inbox not found; create it or point the pipeline at the right folder"
        )
    found = [
        path
        for path in inbox.rglob(f"*{BATCH_SUFFIX}")
        if not path.name.startswith(".") and path.is_file()
    ]
    return sorted(found, key=lambda path: str(path))


def _read_batch(path: Any) -> tuple[pd.DataFrame | None, str]:
    """Read one batch; return ``(frame, "")`` or ``(None, reason)`` when it cannot be read."""
    try:
        with path.open("rb") as handle:
            return pd.read_parquet(handle), ""
    except (pa.ArrowException, OSError, ValueError) as error:
        return None, f"not a readable Parquet file ({type(error).__name__}: {error})"


def _quarantine(path: Any, inbox: Any, reasons: list[str], quarantine_dir: Any) -> str:
    """Copy a bad batch into quarantine with a reason file; return the reason as one line.

    The copy is named after the file's place in the inbox (``device/b1.parquet`` becomes
    ``device__b1.parquet``) so two bad files of the same name never overwrite each other.
    """
    reason = "; ".join(reasons)
    flat = "__".join(path.relative_to(inbox).parts)
    target = quarantine_dir / flat
    write_bytes_atomic(target, path.read_bytes())
    note = {
        "file": str(path),
        "reasons": reasons,
        "quarantined_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    write_json_atomic(quarantine_dir / f"{flat.removesuffix(BATCH_SUFFIX)}{REASON_SUFFIX}", note)
    LOG.warning("quarantined batch %s: %d problem(s)", path.name, len(reasons))
    return reason


def _rows_of_day(frame: pd.DataFrame, day: dt.date | None) -> pd.DataFrame:
    """Return the batch with ``ts`` in UTC, restricted to ``day`` when one is given."""
    frame = frame.copy()
    frame["ts"] = utc_timestamps(frame["ts"])
    if day is None:
        return frame
    return frame[frame["ts"].dt.date == day]


def _check(path: Any, frame: pd.DataFrame | None, read_error: str) -> list[str]:
    """Return every reason to quarantine a batch, empty when it may be used."""
    if frame is None:
        return [read_error]
    problems = validate_batch(frame)
    if not problems and str(frame["batch_id"].iloc[0]) != path.stem:
        problems.append(
            f"batch_id column says {frame['batch_id'].iloc[0]!r} but the file is named "
            f"{path.name!r}; name each batch file '<batch_id>.parquet'"
        )
    return problems


def _concat_unique(parts: list[pd.DataFrame]) -> tuple[pd.DataFrame, int]:
    """Concatenate accepted rows and keep the first row of every ``row_id``."""
    if not parts:
        return pd.DataFrame(), 0
    table = pd.concat(parts, ignore_index=True)
    before = len(table)
    table = table.drop_duplicates(subset="row_id", keep="first")
    table = table.sort_values(["ts", "device_id", "row_id"], kind="stable", ignore_index=True)
    return table, before - len(table)


def collect_inbox(
    inbox: Path | str,
    *,
    day: dt.date | None,
    seen_batch_ids: set[str],
    quarantine_dir: Path | str,
) -> FleetBatches:
    """Read the fleet inbox into one deduplicated table of a day's frames.

    Args:
        inbox: The folder (or fsspec URL) devices upload ``<batch_id>.parquet`` files into;
            sub-folders are searched too.
        day: Keep only rows whose UTC ``ts`` falls on this day; all rows when None.
        seen_batch_ids: Batch ids already collected (for example by an earlier run of the same
            partition); their files are skipped as duplicates.
        quarantine_dir: Where bad batches are copied, each with a ``<batch_id>.reason.json``.

    Returns:
        The accepted table and what happened to every batch file.

    Raises:
        FileNotFoundError: When ``inbox`` does not exist.
    """
    inbox_path = as_path(os.fspath(inbox))
    quarantine_path = as_path(os.fspath(quarantine_dir))
    result = FleetBatches(table=pd.DataFrame())
    seen = set(seen_batch_ids)
    parts: list[pd.DataFrame] = []

    for path in _list_batches(inbox_path):
        if path.stem in seen:
            result.duplicates.append(path.stem)
            continue
        frame, read_error = _read_batch(path)
        problems = _check(path, frame, read_error)
        if problems:
            result.quarantined.append(
                (str(path), _quarantine(path, inbox_path, problems, quarantine_path))
            )
            continue

        seen.add(path.stem)
        rows = _rows_of_day(frame, day)
        if rows.empty:
            result.other_days.append(path.stem)
            continue
        result.accepted.append(path.stem)
        parts.append(rows)

    result.table, result.duplicate_rows = _concat_unique(parts)
    LOG.info("inbox %s: %s", inbox_path, result.to_metadata())
    return result
