"""Majority vote across annotators, agreement against the consensus, per-frame agreement."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from roadmark_pipeline.labeling.agreement import (
    agreement_table,
    frame_agreement,
    human_level,
    outcomes,
)
from roadmark_pipeline.labeling.consensus import consensus_labels, majority

NAMES = ["line", "dash", "rail"]
A, B, C = "a@x", "b@x", "c@x"


def box(annotator, class_id, x1, y1, x2, y2, frame="f/0", borderline=False) -> dict:
    return dict(
        frame_id=frame,
        annotator=annotator,
        class_id=class_id,
        x1=x1,
        y1=y1,
        x2=x2,
        y2=y2,
        borderline=borderline,
    )


def looked(*annotators, frame="f/0", cancelled=False) -> list[dict]:
    return [dict(frame_id=frame, annotator=a, was_cancelled=cancelled) for a in annotators]


def run(boxes: list[dict], annotations: list[dict] | None = None):
    table = pd.DataFrame(boxes, columns=list(box(A, 0, 0, 0, 1, 1)))
    seen = pd.DataFrame(annotations) if annotations is not None else None
    return consensus_labels(table, seen, NAMES)


@pytest.mark.parametrize(("n", "needed"), [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3)])
def test_majority(n, needed) -> None:
    assert majority(n) == needed


def test_three_agree_gives_one_fused_box() -> None:
    result = run(
        [box(A, 0, 10, 10, 50, 50), box(B, 0, 12, 9, 52, 49), box(C, 0, 11, 11, 60, 51)],
        looked(A, B, C),
    )
    (kept,) = result.boxes.to_dict("records")
    assert (kept["x1"], kept["y1"], kept["x2"], kept["y2"]) == (11, 10, 52, 50)  # edge medians
    assert (kept["votes"], kept["n_annotators"], kept["class_votes"]) == (3, 3, 3)
    assert result.disagreements.empty


@pytest.mark.parametrize(
    ("boxes", "kinds", "kept_classes"),
    [
        # one of three draws an extra box: outvoted
        (
            [
                box(A, 0, 0, 0, 10, 10),
                box(B, 0, 0, 0, 10, 10),
                box(C, 0, 0, 0, 10, 10),
                box(C, 2, 50, 50, 90, 90),
            ],
            ["minority_box"],
            [0],
        ),
        # two of three draw it: kept, the third missed it
        ([box(A, 1, 0, 0, 10, 10), box(B, 1, 1, 0, 10, 10)], ["missed_box"], [1]),
        # one swaps the class: majority class wins, the swap is listed
        (
            [box(A, 0, 0, 0, 10, 10), box(B, 0, 0, 0, 10, 10), box(C, 2, 0, 0, 10, 10)],
            ["class_conflict"],
            [0],
        ),
        # three classes, one each: kept (3 boxes) but flagged; lowest class id for now
        (
            [box(A, 2, 0, 0, 10, 10), box(B, 1, 0, 0, 10, 10), box(C, 0, 0, 0, 10, 10)],
            ["class_conflict", "class_conflict", "class_tie"],
            [0],
        ),
        # boxes that overlap little are different objects, each a minority
        (
            [box(A, 0, 0, 0, 10, 10), box(B, 0, 6, 0, 16, 10)],
            ["minority_box", "minority_box"],
            [],
        ),
    ],
)
def test_vote_table(boxes, kinds, kept_classes) -> None:
    result = run(boxes, looked(A, B, C))
    assert sorted(result.disagreements["kind"]) == sorted(kinds)
    assert result.boxes["class_id"].tolist() == kept_classes
    if kept_classes == [0] and "class_tie" in kinds:
        assert bool(result.boxes["needs_adjudication"].iloc[0])


def test_an_annotator_who_drew_nothing_votes_no() -> None:
    # two annotators looked; one drew a box: 1 of 2 is no majority
    result = run([box(A, 0, 0, 0, 10, 10)], looked(A, B))
    assert result.boxes.empty
    # without the annotations table only A is known to have looked: kept
    assert len(run([box(A, 0, 0, 0, 10, 10)]).boxes) == 1


def test_cancelled_annotations_do_not_vote() -> None:
    annotations = looked(A) + looked(B, cancelled=True)
    result = run([box(A, 0, 0, 0, 10, 10)], annotations)
    assert len(result.boxes) == 1
    assert result.frames["n_annotators"].tolist() == [1]


def test_borderline_votes_are_carried() -> None:
    result = run(
        [
            box(A, 0, 0, 0, 10, 10, borderline=True),
            box(B, 0, 0, 0, 10, 10, borderline=True),
            box(C, 0, 0, 0, 10, 10),
            box(A, 1, 50, 50, 60, 60, borderline=True),
            box(B, 1, 50, 50, 60, 60),
            box(C, 1, 50, 50, 60, 60),
        ],
        looked(A, B, C),
    )
    table = result.boxes.sort_values("class_id")
    assert table["borderline_votes"].tolist() == [2, 1]
    assert table["borderline"].tolist() == [True, False]


def test_frames_are_independent() -> None:
    boxes = [box(A, 0, 0, 0, 10, 10, frame="f/1"), box(B, 0, 0, 0, 10, 10, frame="f/2")]
    result = run(boxes, looked(A, B, frame="f/1") + looked(A, B, frame="f/2"))
    assert result.boxes.empty  # each frame has one vote of two
    assert result.frames["n_disagreements"].tolist() == [1, 1]


def test_agreement_counts_and_scores() -> None:
    # A: perfect. B: misses the rail, swaps the dash to a line. C: adds a spurious box.
    boxes = [
        box(A, 0, 0, 0, 10, 10),
        box(A, 1, 20, 0, 30, 10),
        box(A, 2, 40, 0, 50, 10),
        box(B, 0, 0, 0, 10, 10),
        box(B, 0, 20, 0, 30, 10),
        box(C, 0, 0, 0, 10, 10),
        box(C, 1, 20, 0, 30, 10),
        box(C, 2, 40, 0, 50, 10),
        box(C, 2, 80, 80, 90, 90),
    ]
    result = run(boxes, looked(A, B, C))
    table = agreement_table(result, NAMES)
    pooled = table[(table["class_name"] == "all")].set_index("annotator")
    assert pooled.loc[A, ["tp", "fp", "fn"]].tolist() == [3, 0, 0]
    assert pooled.loc[B, ["tp", "fp", "fn"]].tolist() == [1, 1, 2]
    assert pooled.loc[C, ["tp", "fp", "fn"]].tolist() == [3, 1, 0]
    assert pooled.loc[B, "precision"] == pytest.approx(0.5)
    assert pooled.loc[B, "recall"] == pytest.approx(1 / 3)
    assert pooled.loc[C, "f1"] == pytest.approx(6 / 7)

    dash = table[(table["class_name"] == "dash")].set_index("annotator")
    assert dash.loc[B, ["tp", "fp", "fn"]].tolist() == [0, 0, 1]
    levels = human_level(table).set_index("class_name")
    assert levels.loc["all", "f1_max"] == 1.0
    assert levels.loc["all", "annotators"] == 3


def test_agreement_by_slice() -> None:
    boxes = [
        box(A, 0, 0, 0, 10, 10, frame="f/1"),
        box(B, 0, 0, 0, 10, 10, frame="f/1"),
        box(A, 0, 0, 0, 10, 10, frame="f/2"),
    ]
    result = run(boxes, looked(A, B, frame="f/1") + looked(A, B, frame="f/2"))
    frames = pd.DataFrame({"frame_id": ["f/1", "f/2"], "camera": ["day", "night"]})
    table = agreement_table(result, NAMES, frames, ["camera"])
    night = table[(table["slice"] == "camera") & (table["slice_value"] == "night")]
    night_a = night[(night["annotator"] == A) & (night["class_name"] == "all")]
    assert night_a[["tp", "fp", "fn"]].values.tolist() == [[0, 1, 0]]
    with pytest.raises(ValueError, match="frames="):
        agreement_table(result, NAMES, None, ["camera"])


def test_single_annotator_frames_say_nothing_about_agreement() -> None:
    result = run([box(A, 0, 0, 0, 10, 10)], looked(A))
    assert outcomes(result).empty
    assert frame_agreement(result).empty


def test_frame_agreement() -> None:
    boxes = [
        box(A, 0, 0, 0, 10, 10, frame="f/1"),
        box(B, 0, 0, 0, 10, 10, frame="f/1"),
        box(A, 0, 0, 0, 10, 10, frame="f/2"),
        box(B, 1, 0, 0, 10, 10, frame="f/2"),
    ]
    annotations = looked(A, B, frame="f/1") + looked(A, B, frame="f/2") + looked(A, B, frame="f/3")
    agreement = frame_agreement(run(boxes, annotations))
    assert agreement["f/1"] == 1.0
    assert agreement["f/3"] == 1.0  # both looked and agreed there is nothing
    assert 0 <= agreement["f/2"] < 1


def test_many_random_frames_keep_invariants() -> None:
    rng = np.random.default_rng(3)
    boxes, annotations = [], []
    for f in range(40):
        frame = f"s/{f}"
        annotations += looked(A, B, C, frame=frame)
        for _ in range(rng.integers(0, 5)):
            x, y, cls = rng.uniform(0, 500), rng.uniform(0, 300), int(rng.integers(0, 3))
            for who in (A, B, C):
                if rng.random() < 0.85:
                    j = rng.normal(0, 2, 4)
                    boxes.append(
                        box(who, cls, x + j[0], y + j[1], x + 40 + j[2], y + 20 + j[3], frame)
                    )
    result = run(boxes, annotations)
    assert (result.boxes["votes"] >= 2).all()
    assert (result.boxes["votes"] <= 3).all()
    assert len(result.members) == len(boxes)
    assert result.frames["frame_id"].nunique() == 40
