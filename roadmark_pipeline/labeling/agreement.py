"""Agreement of each annotator with the consensus: the human-level performance estimate.

An annotator's boxes are scored against the consensus like a detector's: a box in a kept group
with the consensus class is a true positive; a box the vote dropped, or one with another class,
is a false positive (and, for a wrong class, the consensus box it should have been is missed); a
consensus box the annotator did not draw is a false negative. Frames one annotator labelled
alone say nothing about agreement and are left out.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from roadmark_pipeline.labeling.consensus import ConsensusResult

LOG = logging.getLogger(__name__)

ALL = "all"
AGREEMENT_COLUMNS = [
    "annotator",
    "slice",
    "slice_value",
    "class_name",
    "tp",
    "fp",
    "fn",
    "precision",
    "recall",
    "f1",
]


def outcomes(result: ConsensusResult) -> pd.DataFrame:
    """Count TP/FP/FN per frame, annotator and class, on frames with two or more annotators.

    Args:
        result: From ``consensus_labels``.

    Returns:
        Rows ``frame_id, annotator, class_id, tp, fp, fn`` (one per non-zero combination).
    """
    shared = result.frames.loc[result.frames["n_annotators"] >= 2, "frame_id"]
    members = result.members[result.members["frame_id"].isin(shared)]
    right = members["kept"] & (members["class_id"] == members["consensus_class_id"])
    tp = members[right].assign(tp=1, fp=0, fn=0)
    fp = members[~right].assign(tp=0, fp=1, fn=0)
    wrong_class = members[members["kept"] & ~right]
    fn_wrong = wrong_class.assign(class_id=wrong_class["consensus_class_id"], tp=0, fp=0, fn=1)
    fn_missed = _missed(result, shared)

    columns = ["frame_id", "annotator", "class_id", "tp", "fp", "fn"]
    parts = [part[columns] for part in (tp, fp, fn_wrong, fn_missed) if len(part)]
    if not parts:
        return pd.DataFrame(columns=columns)
    counts = pd.concat(parts, ignore_index=True)
    return counts.groupby(["frame_id", "annotator", "class_id"], as_index=False).sum()


def _missed(result: ConsensusResult, shared: pd.Series) -> pd.DataFrame:
    """One row per (kept group, annotator of the frame who has no box in it)."""
    kept = result.members[result.members["kept"] & result.members["frame_id"].isin(shared)]
    groups = kept.groupby(["frame_id", "group"]).agg(
        drew=("annotator", set), class_id=("consensus_class_id", "first")
    )
    who = result.annotators.groupby("frame_id")["annotator"].apply(list)
    rows = [
        {
            "frame_id": frame,
            "annotator": name,
            "class_id": int(g.class_id),
            "tp": 0,
            "fp": 0,
            "fn": 1,
        }
        for (frame, _), g in groups.iterrows()
        for name in who.get(frame, [])
        if name not in g.drew
    ]
    return pd.DataFrame(rows, columns=["frame_id", "annotator", "class_id", "tp", "fp", "fn"])


def agreement_table(
    result: ConsensusResult,
    class_names: Sequence[str],
    frames: pd.DataFrame | None = None,
    slice_columns: Sequence[str] = (),
) -> pd.DataFrame:
    """Precision, recall and F1 of every annotator against the consensus, per class and slice.

    Args:
        result: From ``consensus_labels``.
        class_names: Class names in id order.
        frames: Frames table with ``frame_id`` and the slice columns (e.g. ``camera_model``,
            ``source_key``, ``time_of_day``); needed only with ``slice_columns``.
        slice_columns: Columns of ``frames`` to break the table down by.

    Returns:
        Long table (``AGREEMENT_COLUMNS``): one row per annotator x slice value x class, with
        ``slice == slice_value == "all"`` for the whole set and ``class_name == "all"`` for all
        classes pooled. Precision/recall are NaN where there is nothing to divide by.
    """
    counts = outcomes(result)
    counts["class_name"] = [class_names[int(c)] for c in counts["class_id"]]
    slices: list[tuple[str, pd.DataFrame]] = [(ALL, counts.assign(slice_value=ALL))]
    if slice_columns:
        if frames is None:
            raise ValueError("slice_columns need frames= with those columns")
        for column in slice_columns:
            values = frames.set_index("frame_id")[column].astype(str)
            slices.append((column, counts.assign(slice_value=counts["frame_id"].map(values))))

    tables = []
    for name, table in slices:
        per_class = table.groupby(["annotator", "slice_value", "class_name"], as_index=False)[
            ["tp", "fp", "fn"]
        ].sum()
        pooled = table.groupby(["annotator", "slice_value"], as_index=False)[
            ["tp", "fp", "fn"]
        ].sum()
        tables.append(pd.concat([per_class, pooled.assign(class_name=ALL)]).assign(slice=name))
    return _with_scores(pd.concat(tables, ignore_index=True))[AGREEMENT_COLUMNS]


def _with_scores(table: pd.DataFrame) -> pd.DataFrame:
    tp, fp, fn = (table[c].astype(float) for c in ("tp", "fp", "fn"))
    with np.errstate(divide="ignore", invalid="ignore"):
        table["precision"] = np.where(tp + fp > 0, tp / (tp + fp), np.nan)
        table["recall"] = np.where(tp + fn > 0, tp / (tp + fn), np.nan)
        table["f1"] = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan)
    return table.sort_values(["slice", "slice_value", "class_name", "annotator"], ignore_index=True)


def human_level(agreement: pd.DataFrame) -> pd.DataFrame:
    """Summarise the agreement table into a human-level estimate per class.

    Args:
        agreement: From :func:`agreement_table`.

    Returns:
        Per class (``"all"`` included) over the whole set: ``annotators``, mean/min/max F1,
        and the pooled precision and recall of all annotators.
    """
    overall = agreement[agreement["slice"] == ALL]
    summary = overall.groupby("class_name").agg(
        annotators=("annotator", "nunique"),
        f1_mean=("f1", "mean"),
        f1_min=("f1", "min"),
        f1_max=("f1", "max"),
        tp=("tp", "sum"),
        fp=("fp", "sum"),
        fn=("fn", "sum"),
    )
    pooled = _with_scores(summary.reset_index().assign(annotator="", slice="", slice_value=""))
    return pooled[
        ["class_name", "annotators", "f1_mean", "f1_min", "f1_max", "precision", "recall"]
    ]


def frame_agreement(result: ConsensusResult) -> pd.Series:
    """Per frame, the pooled F1 of its annotators against the consensus (0..1).

    This is the ``agreement`` series the model room's error analysis takes as the human level
    of a slice.

    Args:
        result: From ``consensus_labels``.

    Returns:
        Series indexed by ``frame_id``; frames with one annotator are absent. A frame where
        every annotator agreed there is nothing scores 1.
    """
    shared = result.frames.loc[result.frames["n_annotators"] >= 2, "frame_id"]
    counts = outcomes(result).groupby("frame_id")[["tp", "fp", "fn"]].sum()
    counts = counts.reindex(shared, fill_value=0)
    tp, wrong = counts["tp"].astype(float), (counts["fp"] + counts["fn"]).astype(float)
    score = np.where(2 * tp + wrong > 0, 2 * tp / (2 * tp + wrong), 1.0)
    return pd.Series(score, index=counts.index, name="agreement")
