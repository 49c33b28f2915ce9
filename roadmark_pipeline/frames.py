"""Helpers over the frames tables that several assets share."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd

from roadmark_pipeline.lake import read_parquet, write_parquet_atomic


def concat_partitions(tables: Mapping[str, pd.DataFrame] | pd.DataFrame) -> pd.DataFrame:
    """Concatenate per-partition tables into one, in partition-key order.

    Args:
        tables: What the IO manager loaded for a partitioned upstream: a mapping partition key
            -> table (or already a single table).

    Returns:
        One table with an index from 0; an empty table when nothing was materialized.
    """
    if isinstance(tables, pd.DataFrame):
        return tables.reset_index(drop=True)
    parts = [tables[key] for key in sorted(tables) if len(tables[key])]
    if not parts:
        return pd.DataFrame()
    return pd.concat(parts, ignore_index=True)


LABELLED_STATUSES = ("labelled", "reviewed_empty")


def labelled_frames(frames: pd.DataFrame, tasks: pd.DataFrame) -> pd.DataFrame:
    """Return the sampled frames a person has labelled (with boxes, or reviewed as empty).

    Unannotated and cancelled tasks are left out: their frames are unknown, not background.

    Args:
        frames: The sampled frames (frame_id, path, width, height, source_sha256, ...).
        tasks: The task statuses from the Label Studio export (frame_id, status).

    Returns:
        The labelled subset of ``frames``, in frame-id order.
    """
    done = tasks.loc[tasks["status"].isin(LABELLED_STATUSES), "frame_id"].unique()
    subset = frames[frames["frame_id"].isin(done)]
    return subset.sort_values("frame_id").reset_index(drop=True)


def table_digest(*parts: pd.DataFrame | dict) -> str:
    """Return a 16-hex digest of tables and settings, for caching work on exactly these inputs.

    Tables are hashed row by row with pandas' stable hashing (order-sensitive); dicts as
    key-sorted JSON.
    """
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, pd.DataFrame):
            digest.update(",".join(map(str, part.columns)).encode())
            digest.update(pd.util.hash_pandas_object(part, index=False).values.tobytes())
        else:
            digest.update(json.dumps(part, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def cached_table(path: Path, compute: Callable[[], pd.DataFrame]) -> tuple[pd.DataFrame, bool]:
    """Return the table stored at ``path``, or compute it, store it atomically and return it.

    Args:
        path: Where the table for exactly these inputs lives (key the path by a digest).
        compute: Makes the table when it is not stored yet.

    Returns:
        The table, and True when it came from the store.
    """
    if path.exists():
        return read_parquet(path), True
    table = compute()
    write_parquet_atomic(path, table)
    return table, False
