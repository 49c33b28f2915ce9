"""cleanlab object-detection adapter: R12 (empty images need correctly shaped empties), malformed
inputs rejected by us with a clear error, and issue types from cleanlab's sub-scores."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from roadmark_pipeline.model.label_quality import (
    LabelQualityError,
    assign_folds,
    check_cleanlab_inputs,
    find_label_issues,
    to_cleanlab_inputs,
)


def load_r12(case: Path):
    labels = json.loads((case / "labels_xyxy_px.json").read_text())
    predictions = json.loads((case / "predictions_cls_xyxy_conf.json").read_text())
    meta = json.loads((case / "meta.json").read_text())
    frames = pd.DataFrame({"frame_id": list(labels)})
    truth = pd.DataFrame(
        [(fid, *row) for fid, rows in labels.items() for row in rows],
        columns=["frame_id", "class_id", "x1", "y1", "x2", "y2"],
    )
    preds = pd.DataFrame(
        [(fid, *row) for fid, rows in predictions.items() for row in rows],
        columns=["frame_id", "class_id", "x1", "y1", "x2", "y2", "score"],
    )
    return frames, truth, preds, meta["class_names"]


@pytest.fixture
def r12(cases_dir):
    return load_r12(cases_dir / "R12")


def test_r12_adapter_shapes(r12):
    frames, truth, preds, names = r12
    labels, predictions = to_cleanlab_inputs(frames, truth, preds, len(names))
    empty_label, empty_prediction = labels[2], predictions[2]  # f2 has nothing at all
    assert empty_label["bboxes"].shape == (0, 4) and empty_label["labels"].shape == (0,)
    assert [array.shape for array in empty_prediction] == [(0, 5), (0, 5)]
    assert labels[0]["bboxes"].shape == (1, 4) and labels[0]["labels"].tolist() == [0]
    assert [array.shape for array in predictions[3]] == [(1, 5), (0, 5)]  # f3 predicted as car


def test_r12_scores_and_flags(r12):
    frames, truth, preds, names = r12
    issues = find_label_issues(frames, truth, preds, names)
    by_frame = issues.set_index("frame_id")
    assert by_frame.loc[["f0", "f1", "f2", "f3"], "is_issue"].tolist() == [False] * 4
    scores = by_frame.loc[["f0", "f1", "f2", "f3"], "quality_score"].to_numpy()
    assert scores == pytest.approx([1.0, 1.0, 1.0, 0.983], abs=5e-4)
    assert issues["frame_id"].iloc[0] == "f3"  # worst first
    # f3 is a truck label where the model sees a car: its lowest sub-score is the swap score.
    assert by_frame.loc["f3", "swap_score"] < by_frame.loc["f3", "overlooked_score"]


MALFORMED = [
    # (labels[0], predictions[0], fragment of the message) for a two-class problem
    ({"bboxes": np.array([]), "labels": np.array([])}, [np.zeros((0, 5))] * 2, "(0, 4)"),
    ({"bboxes": np.zeros((0, 4)), "labels": np.zeros((0, 1))}, [np.zeros((0, 5))] * 2, "(0,)"),
    ({"bboxes": np.zeros((0, 4)), "labels": np.zeros(0)}, [], "one per class"),
    ({"bboxes": np.zeros((0, 4)), "labels": np.zeros(0)}, [np.array([])] * 2, "(0, 5)"),
    ({"bboxes": np.zeros((0, 4)), "labels": np.zeros(0)}, [np.zeros((0, 4))] * 2, "(M, 5)"),
    ({"bboxes": np.zeros((1, 4)), "labels": np.zeros(0)}, [np.zeros((0, 5))] * 2, "for 1 boxes"),
    ([[0, 0, 1, 1]], [np.zeros((0, 5))] * 2, "must be a dict"),
]


@pytest.mark.parametrize(("label", "prediction", "fragment"), MALFORMED)
def test_malformed_empties_are_rejected_before_cleanlab(label, prediction, fragment):
    good_label = {"bboxes": np.array([[0.0, 0, 10, 10]]), "labels": np.array([0])}
    good_prediction = [np.array([[0.0, 0, 10, 10, 0.9]]), np.zeros((0, 5))]
    with pytest.raises(
        LabelQualityError, match=r"image 1: .*" + fragment.replace("(", r"\(").replace(")", r"\)")
    ):
        check_cleanlab_inputs([good_label, label], [good_prediction, prediction], 2)


def test_length_mismatch_is_rejected():
    with pytest.raises(LabelQualityError, match="1 label entries but 2 prediction"):
        check_cleanlab_inputs([{"bboxes": np.zeros((0, 4)), "labels": np.zeros(0)}], [[], []], 2)


def test_out_of_range_class_ids_are_rejected(r12):
    frames, truth, preds, _ = r12
    with pytest.raises(LabelQualityError, match="outside 0..0"):
        to_cleanlab_inputs(frames, truth, preds, 1)


def frame_set(kind: str):
    """Small hand-made inputs of the same kind as R12, one fault each."""
    frames = pd.DataFrame({"frame_id": ["a", "b", "c", "d"]})
    truth = [("a", 0, 10, 10, 50, 50), ("b", 1, 60, 60, 120, 100), ("c", 0, 200, 200, 260, 240)]
    preds = [
        ("a", 0, 10, 10, 50, 50, 0.95),
        ("b", 1, 60, 60, 120, 100, 0.93),
        ("c", 0, 200, 200, 260, 240, 0.9),
    ]
    if kind == "overlooked":  # the model is sure of a car nobody labelled on d
        preds.append(("d", 0, 300, 300, 360, 340, 0.99))
    if kind == "badly_located":  # c's label is far off the object the model sees
        truth[2] = ("c", 0, 170, 170, 215, 215)
    if kind == "swapped":  # c is labelled truck where the model is sure of a car
        truth[2] = ("c", 1, 200, 200, 260, 240)
        preds[2] = ("c", 0, 201, 200, 260, 241, 0.99)
    columns = ["frame_id", "class_id", "x1", "y1", "x2", "y2"]
    return (
        frames,
        pd.DataFrame(truth, columns=columns),
        pd.DataFrame(preds, columns=[*columns, "score"]),
    )


@pytest.mark.parametrize(("kind", "frame"), [("overlooked", "d"), ("badly_located", "c")])
def test_a_planted_fault_ranks_worst_and_is_flagged_with_its_type(kind, frame):
    frames, truth, preds = frame_set(kind)
    issues = find_label_issues(frames, truth, preds, ["car", "truck"])
    worst = issues.iloc[0]
    assert worst["frame_id"] == frame
    assert worst["quality_score"] < issues["quality_score"].iloc[1:].min()
    assert worst["is_issue"] and worst["issue_type"] == kind
    assert not issues["is_issue"].iloc[1:].any()
    assert set(issues["issue_type"].iloc[1:]) == {""}


def test_a_swapped_class_ranks_worst_through_its_swap_score():
    # As in R12, four images are too little evidence for cleanlab to flag a swap, but the
    # frame ranks worst and its lowest sub-score names the fault.
    frames, truth, preds = frame_set("swapped")
    issues = find_label_issues(frames, truth, preds, ["car", "truck"])
    worst = issues.iloc[0]
    assert worst["frame_id"] == "c" and worst["quality_score"] < 1.0
    subscores = worst[["overlooked_score", "swap_score", "badloc_score"]].astype(float)
    assert subscores.idxmin() == "swap_score"


def test_clean_frames_without_any_box_do_not_crash():
    frames = pd.DataFrame({"frame_id": ["a", "b"]})
    columns = ["frame_id", "class_id", "x1", "y1", "x2", "y2"]
    issues = find_label_issues(
        frames, pd.DataFrame(columns=columns), pd.DataFrame(columns=[*columns, "score"]), ["x", "y"]
    )
    assert issues["quality_score"].tolist() == [1.0, 1.0]


@pytest.mark.parametrize("n_boxes", [9, 11])
def test_scores_stay_within_zero_and_one_when_cleanlab_rounds_above_one(n_boxes):
    # n equal boxes and no prediction at all: cleanlab's softmin pooling rounds to 1 + 2e-16.
    from cleanlab.object_detection import rank

    frames = pd.DataFrame({"frame_id": ["a"]})
    truth = pd.DataFrame(
        [("a", 0, 10.0 * i, 10.0, 10.0 * i + 8, 30.0) for i in range(n_boxes)],
        columns=["frame_id", "class_id", "x1", "y1", "x2", "y2"],
    )
    no_predictions = pd.DataFrame(columns=[*truth.columns, "score"])
    labels, predictions = to_cleanlab_inputs(frames, truth, no_predictions, 2)
    raw = rank.get_label_quality_scores(labels, predictions, verbose=False)
    assert raw.max() > 1.0, "cleanlab no longer rounds above 1 here: this test checks nothing"

    issues = find_label_issues(frames, truth, no_predictions, ["x", "y"])
    scores = issues[["quality_score", "overlooked_score", "swap_score", "badloc_score"]]
    assert ((scores >= 0.0) & (scores <= 1.0)).all().all()
    assert issues["quality_score"].tolist() == [1.0]


FORKS: list[int] = []
os.register_at_fork(before=lambda: FORKS.append(os.getpid()))


def test_label_issues_are_found_in_this_process_without_forking():
    # A pool forked inside a Dagster run inherits the run's signal handlers: tearing it down
    # printed DagsterExecutionInterruptedError tracebacks from the workers.
    from cleanlab.object_detection import filter as cl_filter

    frames, truth, preds = frame_set("overlooked")
    forks_before = len(FORKS)

    issues = find_label_issues(frames, truth, preds, ["car", "truck"])

    assert len(FORKS) == forks_before
    assert issues["is_issue"].sum() == 1
    assert cl_filter.Pool == multiprocessing.Pool  # cleanlab is left as it was


@pytest.mark.parametrize(
    ("sizes", "k", "expected_loads"),
    [
        ({"a": 5, "b": 4, "c": 3, "d": 2}, 2, [7, 7]),
        ({"a": 10, "b": 1, "c": 1}, 3, [10, 1, 1]),
    ],
)
def test_folds_keep_drives_whole_and_balance_frames(sizes, k, expected_loads):
    frames = pd.DataFrame(
        [{"frame_id": f"{g}/{i}", "drive": g} for g, n in sizes.items() for i in range(n)]
    )
    folds = assign_folds(frames, "drive", k)
    assert frames.assign(fold=folds.to_numpy()).groupby("drive")["fold"].nunique().max() == 1
    assert sorted(folds.value_counts().tolist(), reverse=True) == sorted(
        expected_loads, reverse=True
    )


def test_too_few_drives_for_k_folds():
    frames = pd.DataFrame({"frame_id": ["a/0", "b/0"], "drive": ["a", "b"]})
    with pytest.raises(LabelQualityError, match="found 2"):
        assign_folds(frames, "drive", 3)
