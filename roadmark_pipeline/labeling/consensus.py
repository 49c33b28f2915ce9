"""Consensus labels from several annotators: IoU matching, majority vote, fused boxes.

On each frame the boxes of all annotators who annotated it are grouped across annotators by IoU
(class-agnostic, so a swapped class still meets its peers and is outvoted rather than counted as
two different objects). A group becomes a consensus box when a majority of the frame's
annotators drew it; its class is the majority class, its coordinates the per-edge median of the
group, and the borderline marks are counted. Everything the vote overruled is listed for
adjudication.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from roadmark_pipeline.labeling.geometry import iou_matrix

LOG = logging.getLogger(__name__)

XYXY = ["x1", "y1", "x2", "y2"]
DEFAULT_IOU = 0.5
CONSENSUS_COLUMNS = [
    "frame_id",
    "class_id",
    "class_name",
    *XYXY,
    "votes",
    "n_annotators",
    "class_votes",
    "borderline_votes",
    "borderline",
    "mean_iou",
    "needs_adjudication",
]
DISAGREEMENT_COLUMNS = ["frame_id", "kind", "annotator", "class_id", *XYXY, "detail"]
MEMBER_COLUMNS = ["frame_id", "annotator", "class_id", "group", "kept", "consensus_class_id"]


@dataclass
class ConsensusResult:
    """The outcome of :func:`consensus_labels`.

    Attributes:
        boxes: The consensus boxes (``CONSENSUS_COLUMNS``): a boxes table plus the vote counts.
        disagreements: What the vote overruled, one row per annotator and box: ``minority_box``
            (drawn by too few), ``missed_box`` (the majority drew it, this annotator did not),
            ``class_conflict`` (matched, other class) and ``class_tie`` (no class majority).
        frames: Per frame: ``frame_id, n_annotators, n_boxes, n_disagreements``.
        members: Every annotator box with its group, whether the group was kept and the
            group's consensus class (what agreement is computed from).
        annotators: Per frame, the annotators who annotated it (``frame_id, annotator``).
    """

    boxes: pd.DataFrame
    disagreements: pd.DataFrame
    frames: pd.DataFrame
    members: pd.DataFrame
    annotators: pd.DataFrame


def majority(n_annotators: int) -> int:
    """Votes a box needs among ``n_annotators``: a strict majority (1 of 1, 2 of 2 or 3, ...)."""
    return n_annotators // 2 + 1


def consensus_labels(
    boxes: pd.DataFrame,
    annotations: pd.DataFrame | None,
    class_names: Sequence[str],
    *,
    iou_threshold: float = DEFAULT_IOU,
    min_votes: int | None = None,
) -> ConsensusResult:
    """Vote the annotators' boxes into one label set per frame.

    Args:
        boxes: Annotator boxes (``ExportTables.boxes``): ``frame_id, annotator, class_id,
            x1, y1, x2, y2`` and optionally ``borderline``.
        annotations: ``ExportTables.annotations`` — who annotated which frame, so an annotator
            who looked and drew nothing votes "no box". When None, only annotators with boxes on
            a frame count for it.
        class_names: Class names in id order.
        iou_threshold: Boxes of different annotators with at least this IoU are the same object.
        min_votes: Votes a box needs; a strict majority of the frame's annotators when omitted.

    Returns:
        The :class:`ConsensusResult`.
    """
    who = _annotators_per_frame(boxes, annotations)
    by_frame = {key: _FrameBoxes.of(group) for key, group in boxes.groupby("frame_id", sort=False)}
    kept_rows: list[dict[str, Any]] = []
    overruled: list[dict[str, Any]] = []
    members: list[dict[str, Any]] = []
    frame_rows: list[dict[str, Any]] = []
    for frame_id, annotators in who.items():
        frame_boxes = by_frame.get(frame_id, _FrameBoxes.empty())
        groups = _group_boxes(frame_boxes, annotators, iou_threshold)
        needed = min_votes or majority(len(annotators))
        before = (len(kept_rows), len(overruled))
        for index, group in enumerate(groups):
            rows = frame_boxes.subset(group)
            vote = _vote(rows, frame_id, annotators, needed, class_names)
            if vote is not None:
                kept_rows.append(vote)
            overruled += _overruled(rows, frame_id, annotators, vote)
            members += _member_rows(rows, frame_id, index, vote)
        frame_rows.append(
            {
                "frame_id": frame_id,
                "n_annotators": len(annotators),
                "n_boxes": len(kept_rows) - before[0],
                "n_disagreements": len(overruled) - before[1],
            }
        )

    result = ConsensusResult(
        boxes=pd.DataFrame(kept_rows, columns=CONSENSUS_COLUMNS),
        disagreements=pd.DataFrame(overruled, columns=DISAGREEMENT_COLUMNS),
        frames=pd.DataFrame(
            frame_rows, columns=["frame_id", "n_annotators", "n_boxes", "n_disagreements"]
        ),
        members=pd.DataFrame(members, columns=MEMBER_COLUMNS),
        annotators=pd.DataFrame(
            [(frame, name) for frame, names in who.items() for name in names],
            columns=["frame_id", "annotator"],
        ),
    )
    LOG.info(
        "consensus: %d frames, %d boxes kept from %d drawn, %d disagreements %s",
        len(result.frames),
        len(result.boxes),
        len(boxes),
        len(result.disagreements),
        result.disagreements["kind"].value_counts().to_dict(),
    )
    return result


def _annotators_per_frame(
    boxes: pd.DataFrame, annotations: pd.DataFrame | None
) -> dict[str, list[str]]:
    """Frame id -> sorted annotators who completed (not cancelled) an annotation of it."""
    if annotations is not None and len(annotations):
        live = annotations
        if "was_cancelled" in live:
            live = live[~live["was_cancelled"].astype(bool)]
        pairs = live[["frame_id", "annotator"]].dropna()
    else:
        pairs = boxes[["frame_id", "annotator"]].dropna()
    who: dict[str, set[str]] = {}
    for frame, name in pairs.itertuples(index=False):
        who.setdefault(str(frame), set()).add(str(name))
    for frame, name in boxes[["frame_id", "annotator"]].dropna().itertuples(index=False):
        who.setdefault(str(frame), set()).add(str(name))  # boxes imply an annotation
    return {frame: sorted(names) for frame, names in sorted(who.items())}


@dataclass
class _FrameBoxes:
    """One frame's annotator boxes as arrays (pandas per-row access is too slow here)."""

    annotator: npt.NDArray[np.object_]
    class_id: npt.NDArray[np.int64]
    xyxy: npt.NDArray[np.float64]
    borderline: npt.NDArray[np.bool_]

    @classmethod
    def of(cls, frame: pd.DataFrame) -> _FrameBoxes:
        borderline = (
            frame["borderline"].fillna(False).astype(bool).to_numpy()
            if "borderline" in frame
            else np.zeros(len(frame), bool)
        )
        return cls(
            annotator=frame["annotator"].astype(str).to_numpy(object),
            class_id=frame["class_id"].astype(np.int64).to_numpy(),
            xyxy=frame[XYXY].to_numpy(np.float64),
            borderline=borderline,
        )

    @classmethod
    def empty(cls) -> _FrameBoxes:
        return cls(
            np.array([], object), np.array([], np.int64), np.zeros((0, 4)), np.array([], bool)
        )

    def subset(self, index: list[int]) -> _FrameBoxes:
        return _FrameBoxes(
            self.annotator[index], self.class_id[index], self.xyxy[index], self.borderline[index]
        )

    def __len__(self) -> int:
        return len(self.class_id)


def _group_boxes(
    frame_boxes: _FrameBoxes, annotators: list[str], iou_threshold: float
) -> list[list[int]]:
    """Group one frame's boxes across annotators: each group holds at most one box per annotator.

    Annotators are taken in name order; each one's boxes are matched to the existing groups
    (their median box) greedily by IoU, highest first; unmatched boxes open new groups.
    """
    groups: list[list[int]] = []
    for name in annotators:
        own = np.flatnonzero(frame_boxes.annotator == name)
        if own.size == 0:
            continue
        references = np.array([np.median(frame_boxes.xyxy[g], axis=0) for g in groups])
        overlap = iou_matrix(frame_boxes.xyxy[own], references.reshape(-1, 4))
        taken_rows: set[int] = set()
        taken_groups: set[int] = set()
        for flat in np.argsort(-overlap, axis=None, kind="stable"):
            row, group = (int(v) for v in np.unravel_index(flat, overlap.shape))
            if overlap[row, group] < iou_threshold:
                break
            if row in taken_rows or group in taken_groups:
                continue
            groups[group].append(int(own[row]))
            taken_rows.add(row)
            taken_groups.add(group)
        groups += [[int(own[row])] for row in range(own.size) if row not in taken_rows]
    return groups


def _vote(
    rows: _FrameBoxes,
    frame_id: str,
    annotators: list[str],
    needed: int,
    class_names: Sequence[str],
) -> dict[str, Any] | None:
    """The consensus box of one group, or None when too few annotators drew it."""
    votes = len(set(rows.annotator))
    if votes < needed:
        return None
    counts = Counter(int(c) for c in rows.class_id)
    top = max(counts.values())
    tied = sorted(c for c, n in counts.items() if n == top)
    fused = np.median(rows.xyxy, axis=0)
    borderline_votes = int(rows.borderline.sum())
    return {
        "frame_id": frame_id,
        "class_id": tied[0],
        "class_name": class_names[tied[0]],
        **dict(zip(XYXY, (float(v) for v in fused), strict=True)),
        "votes": votes,
        "n_annotators": len(annotators),
        "class_votes": int(top),
        "borderline_votes": borderline_votes,
        "borderline": borderline_votes * 2 > votes,
        "mean_iou": float(iou_matrix(rows.xyxy, fused[None]).mean()),
        "needs_adjudication": len(tied) > 1,
    }


def _disagreement(
    frame_id: str, kind: str, annotator: str, class_id: int, xyxy: Sequence[float], detail: str
) -> dict[str, Any]:
    return {
        "frame_id": frame_id,
        "kind": kind,
        "annotator": annotator,
        "class_id": int(class_id),
        **dict(zip(XYXY, (float(v) for v in xyxy), strict=True)),
        "detail": detail,
    }


def _overruled(
    rows: _FrameBoxes, frame_id: str, annotators: list[str], vote: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """Disagreement rows of one group: minority boxes, misses, class conflicts and ties."""
    n = len(annotators)
    members = list(zip(rows.annotator, rows.class_id, rows.xyxy, strict=True))
    if vote is None:
        votes = len(set(rows.annotator))
        return [
            _disagreement(frame_id, "minority_box", name, cls, xyxy, f"{votes}/{n} drew it")
            for name, cls, xyxy in members
        ]

    fused = [vote[c] for c in XYXY]
    found = []
    if vote["needs_adjudication"]:
        found.append(
            _disagreement(frame_id, "class_tie", "", vote["class_id"], fused, "no majority")
        )
    drew = set(rows.annotator)
    found += [
        _disagreement(
            frame_id, "missed_box", name, vote["class_id"], fused, f"{vote['votes']}/{n} drew it"
        )
        for name in annotators
        if name not in drew
    ]
    found += [
        _disagreement(
            frame_id,
            "class_conflict",
            name,
            cls,
            xyxy,
            f"drew class {cls}, majority {vote['class_id']}",
        )
        for name, cls, xyxy in members
        if int(cls) != vote["class_id"]
    ]
    return found


def _member_rows(
    rows: _FrameBoxes, frame_id: str, group: int, vote: dict[str, Any] | None
) -> list[dict[str, Any]]:
    return [
        {
            "frame_id": frame_id,
            "annotator": name,
            "class_id": int(cls),
            "group": group,
            "kept": vote is not None,
            "consensus_class_id": -1 if vote is None else int(vote["class_id"]),
        }
        for name, cls in zip(rows.annotator, rows.class_id, strict=True)
    ]
