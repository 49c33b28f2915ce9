"""Which fold each frame falls in for K-fold cross-training: whole drives, or runs of frames.

Evaluating a model wants whole drives held out (``"drive"``): the test frames then come from
roads and light the model never saw. The label-error search only needs every frame predicted by
a model that never saw *that frame's* labels. Frames of one drive a few video frames apart are
near-duplicates, and where annotation slips are sporadic their neighbours carry the right boxes,
so holding out runs of consecutive frames (``"block"``) or single frames (``"frame"``) and
training on the neighbours gives far better out-of-sample predictions: with the same 12-epoch CPU
training and K=2 on the shipped clips, out-of-fold mAP50 is 0.00 with drive folds and 0.43
with 4-frame runs (docs/labeling.md).

The price: a mistake an annotator repeats on every frame of a run of frames is learnt from the
neighbours and no longer stands out; runs longer than such streaks should keep it visible (not
measured: the SIMULATED annotators only make sporadic slips).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

LOG = logging.getLogger(__name__)

FOLD_SCHEMES = ("drive", "block", "frame")


def _error(message: str) -> Exception:
    """The label-quality error (it lives in ``label_quality``, which imports this module)."""
    from roadmark_pipeline.model.label_quality import LabelQualityError

    return LabelQualityError(message)


def assign_folds(
    frames: pd.DataFrame,
    group_column: str,
    k: int,
    *,
    fold_by: str = "drive",
    block_size: int = 4,
) -> pd.Series:
    """Deal frames into ``k`` folds: whole drives, or runs of consecutive frames of a drive.

    ``"drive"``: every drive stays in one fold, largest drive first onto the lightest fold.
    ``"block"``: each drive is cut into runs of ``block_size`` consecutive frames (by frame
    index) and the runs are dealt round robin, so a run's neighbours train the model that
    predicts it. ``"frame"``: runs of one frame.

    Args:
        frames: Frames with ``frame_id`` and ``group_column``; ``frame_index`` when present,
            else the index is read from the frame id (``<source>/<frame index>``).
        group_column: Frames column naming the drive.
        k: Number of folds (at least 2).
        fold_by: ``"drive"``, ``"block"`` or ``"frame"``.
        block_size: Frames per run with ``"block"``.

    Returns:
        frame_id -> fold index, in ``frames`` order.

    Raises:
        LabelQualityError: On an unknown scheme, a missing group column, ``k`` below 2, fewer
            drives (or runs) than folds, ``block_size`` below 1, or frame ids without an index.
    """
    if fold_by not in FOLD_SCHEMES:
        raise _error(f"fold_by={fold_by!r} is unknown; use one of {', '.join(FOLD_SCHEMES)}")
    if group_column not in frames.columns:
        raise _error(f"frames lack the group column {group_column!r}")
    if k < 2:
        raise _error(f"k={k} folds: use k >= 2")

    if fold_by == "drive":
        keys = frames[group_column].astype(str)
        fold_of = _deal_drives(keys, k)
    else:
        keys, ordered = _run_keys(frames, group_column, 1 if fold_by == "frame" else block_size)
        if len(ordered) < k:
            raise _error(f"k={k} folds need at least k runs of frames; found {len(ordered)}")
        fold_of = {key: position % k for position, key in enumerate(ordered)}
    folds = pd.Series(
        keys.map(fold_of).to_numpy(), index=frames["frame_id"].to_numpy(), name="fold"
    )
    LOG.info(
        "folds by %s: %d frames into %d folds of %s frames",
        fold_by,
        len(folds),
        k,
        folds.value_counts().sort_index().tolist(),
    )
    return folds


def _deal_drives(drives: pd.Series, k: int) -> dict[str, int]:
    """Whole drives onto the lightest fold, largest first (ties by name)."""
    sizes = drives.value_counts()
    if len(sizes) < k:
        raise _error(f"k={k} folds need at least k >= 2 drives; found {len(sizes)} drives")
    ordered = sizes.sort_index().sort_values(ascending=False, kind="stable")
    load = np.zeros(k)
    fold_of: dict[str, int] = {}
    for drive, size in ordered.items():
        fold = int(np.argmin(load))
        fold_of[str(drive)] = fold
        load[fold] += size
    return fold_of


def _run_keys(
    frames: pd.DataFrame, group_column: str, block_size: int
) -> tuple[pd.Series, list[str]]:
    """Name each frame's run (drive + run number) and list the runs drive by drive, in order."""
    if block_size < 1:
        raise _error(f"block_size={block_size}: use at least 1 frame per run")
    table = pd.DataFrame(
        {"drive": frames[group_column].astype(str).to_numpy(), "index": _frame_indices(frames)},
        index=frames.index,
    ).sort_values(["drive", "index"], kind="stable")
    run = table.groupby("drive", sort=False).cumcount() // block_size
    keys = table["drive"] + "#" + run.astype(str)
    return keys.reindex(frames.index), list(dict.fromkeys(keys))


def _frame_indices(frames: pd.DataFrame) -> np.ndarray:
    """Frame index of each frame: the ``frame_index`` column, else the frame id's last part."""
    if "frame_index" in frames.columns:
        return pd.to_numeric(frames["frame_index"], errors="raise").to_numpy()
    tails = frames["frame_id"].astype(str).str.rpartition("/")[2]
    bad = frames["frame_id"][~tails.str.isdigit()]
    if len(bad):
        raise _error(
            f"frame id {bad.iloc[0]!r} does not end in '/<frame index>'; give the frames a "
            "frame_index column to fold by block or frame"
        )
    return tails.astype(int).to_numpy()
