"""Our numpy AP: hand-worked cases, threshold table shape, NaN for absent classes, and a
cross-check against ultralytics' own AP code on identical matches."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from roadmark_pipeline.model.evaluation import (
    SCORE_THRESHOLDS,
    EvaluationError,
    evaluate_detections,
)
from roadmark_pipeline.model.metrics import (
    average_precision,
    box_iou,
    match_detections,
    precision_recall,
)

NAMES = ("white_line", "guardrail", "crosswalk")


def boxes(rows, with_score=False):
    """rows: (frame_id, class_id, x1, y1, x2, y2[, score])."""
    columns = ["frame_id", "class_id", "x1", "y1", "x2", "y2"] + (["score"] if with_score else [])
    return pd.DataFrame(rows, columns=columns)


def frames_of(*ids):
    return pd.DataFrame({"frame_id": list(ids)})


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),
        ([0, 0, 10, 10], [5, 0, 15, 10], 50 / 150),
        ([0, 0, 10, 10], [20, 20, 30, 30], 0.0),
        ([0, 0, 0, 10], [0, 0, 0, 10], 0.0),  # no area: IoU 0, not NaN
    ],
)
def test_box_iou(a, b, expected):
    assert box_iou(np.array([a]), np.array([b]))[0, 0] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("hits", "scores", "n_gt", "expected"),
    [
        ([True], [0.9], 1, 1.0),  # one perfect detection
        ([False, True], [0.9, 0.8], 1, 0.5),  # a false positive ranked first halves precision
        ([True, False], [0.9, 0.8], 1, 1.0),  # a false positive ranked last costs nothing
        ([True], [0.9], 2, 0.5),  # half the ground truth found
        ([True, False, True], [0.9, 0.8, 0.7], 2, 0.5 + 0.5 * 2 / 3),  # envelope at each step
        ([], [], 3, 0.0),  # no detections at all
    ],
)
def test_average_precision_hand_worked(hits, scores, n_gt, expected):
    recall, precision, _ = precision_recall(np.array(hits, bool), np.array(scores), n_gt)
    assert average_precision(recall, precision) == pytest.approx(expected)


def test_matching_is_by_score_and_one_to_one():
    gt = np.array([[0, 0, 10, 10]])
    preds = np.array([[0, 0, 10, 10], [0, 0, 10, 9]])
    # At IoU 0.5 the higher-scored (worse-fitting, IoU 0.9) detection takes the box and the
    # other is a duplicate; at 0.95 only the exact one qualifies, so it takes the box.
    hits = match_detections(gt, preds, np.array([0.5, 0.9]), np.array([0.5, 0.95]))
    assert hits.tolist() == [[False, True], [True, False]]


def test_evaluation_tables_and_nan_for_absent_classes():
    truth = boxes([("f1", 0, 0, 0, 10, 10), ("f2", 0, 50, 50, 60, 60), ("f2", 1, 0, 0, 40, 40)])
    preds = boxes(
        [
            ("f1", 0, 0, 0, 10, 10, 0.9),
            ("f2", 0, 80, 80, 90, 90, 0.3),  # false positive
            ("f2", 0, 50, 50, 60, 60, 0.04),  # true positive with a low score
            ("f2", 1, 0, 0, 40, 40, 0.6),
            ("f3", 2, 0, 0, 5, 5, 0.7),  # a class with no ground truth
        ],
        with_score=True,
    )
    result = evaluate_detections(truth, preds, frames_of("f1", "f2", "f3"), NAMES)

    assert list(result.ap_table.index) == list(SCORE_THRESHOLDS)
    assert list(result.ap_table.columns) == list(NAMES)
    assert result.ap_table["crosswalk"].isna().all()  # never 0 for a class without truth
    # white_line: ranks TP .9, FP .3, TP .04 -> AP 0.5 + 0.5 * 2/3; at 0.05 the last TP is gone.
    assert result.ap_table.loc[0.005, "white_line"] == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert result.ap_table.loc[0.05, "white_line"] == pytest.approx(0.5)
    assert result.ap_table.loc[0.5, "guardrail"] == pytest.approx(1.0)
    assert result.map50 == pytest.approx(((0.5 + 1 / 3) + 1.0) / 2)
    row = result.per_class.loc["white_line"]
    assert (row["n_gt"], row["n_pred"]) == (2, 3)
    # F1 along the ranking: 2/3 at .9, 1/2 at .3, 4/5 at .04 (P 2/3, R 1).
    assert row["best_f1_threshold"] == pytest.approx(0.04)
    assert row["f1"] == pytest.approx(0.8)
    assert (row["precision"], row["recall"]) == pytest.approx((2 / 3, 1.0))
    recall, precision = result.pr_curves["white_line"]
    assert recall.tolist() == [0.5, 0.5, 1.0] and precision.tolist() == pytest.approx(
        [1, 0.5, 2 / 3]
    )
    assert np.isnan(result.per_class.loc["crosswalk", "ap50"])


def test_map50_95_drops_with_loose_boxes():
    truth = boxes([("f1", 0, 0, 0, 100, 100)])
    tight = evaluate_detections(
        truth, boxes([("f1", 0, 0, 0, 100, 100, 0.9)], True), frames_of("f1"), NAMES
    )
    loose = evaluate_detections(
        truth, boxes([("f1", 0, 0, 0, 100, 75, 0.9)], True), frames_of("f1"), NAMES
    )  # IoU 0.75: counted at 0.50 .. 0.75, missed above
    assert tight.map50_95 == pytest.approx(1.0)
    assert loose.map50 == pytest.approx(1.0)
    assert loose.map50_95 == pytest.approx(6 / 10)


def test_boxes_outside_the_evaluated_frames_are_ignored():
    truth = boxes([("f1", 0, 0, 0, 10, 10), ("other", 0, 0, 0, 10, 10)])
    preds = boxes([("f1", 0, 0, 0, 10, 10, 0.9), ("other", 0, 30, 30, 40, 40, 0.99)], True)
    assert evaluate_detections(truth, preds, frames_of("f1"), NAMES).map50 == pytest.approx(1.0)


def test_missing_score_column_is_a_clear_error():
    truth = boxes([("f1", 0, 0, 0, 10, 10)])
    with pytest.raises(EvaluationError, match="score"):
        evaluate_detections(truth, truth, frames_of("f1"), NAMES)


def random_scene(rng, n_frames=40, n_classes=3):
    """Ground truth and jittered, partly wrong detections with random scores."""
    truth, preds = [], []
    for frame in range(n_frames):
        fid = f"f{frame}"
        for _ in range(rng.integers(0, 6)):
            x, y = rng.uniform(0, 500, 2)
            w, h = rng.uniform(10, 80, 2)
            cls = int(rng.integers(0, n_classes))
            truth.append((fid, cls, x, y, x + w, y + h))
            if rng.random() < 0.8:  # found, with some location noise
                dx, dy = rng.normal(0, 0.15 * w), rng.normal(0, 0.15 * h)
                preds.append((fid, cls, x + dx, y + dy, x + w + dx, y + h + dy, rng.random()))
        for _ in range(rng.integers(0, 4)):  # false alarms
            x, y = rng.uniform(0, 500, 2)
            cls = int(rng.integers(0, n_classes))
            preds.append((fid, cls, x, y, x + 30, y + 30, rng.random() * 0.7))
    return boxes(truth), boxes(preds, True), frames_of(*(f"f{i}" for i in range(n_frames)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_ultralytics_ap_on_identical_matches(seed):
    """ultralytics integrates the envelope at 101 points with linear interpolation and starts
    it at precision 1; ours integrates exactly at every recall step. For one class the gap is
    at most 0.01 (grid step times the envelope's total variation, which is <= 1) plus the
    triangle r1 * (1 - p1) / 2 its start point adds before the first recall r1."""
    from ultralytics.utils.metrics import ap_per_class

    truth, preds, frames = random_scene(np.random.default_rng(seed))
    ours = evaluate_detections(truth, preds, frames, NAMES)

    hits = np.concatenate([ours.detections[name].hits for name in NAMES])
    scores = np.concatenate([ours.detections[name].scores for name in NAMES])
    pred_cls = np.concatenate(
        [np.full(len(ours.detections[name].scores), i) for i, name in enumerate(NAMES)]
    )
    result = ap_per_class(hits, scores, pred_cls, truth["class_id"].to_numpy())
    ap, classes = result[5], result[6]  # (classes, 10 IoU thresholds), class ids
    theirs = dict(zip(classes.tolist(), ap[:, 0].tolist(), strict=True))

    for index, name in enumerate(NAMES):
        recall, precision = ours.pr_curves[name]
        bound = 0.01 + recall[0] * (1 - precision[0]) / 2 + 1e-9
        assert abs(ours.per_class.loc[name, "ap50"] - theirs[index]) <= bound
