"""Helpers over the frames tables that several assets share."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd


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
