"""Scores on cleanlab's scale: read off precision, monotone, and what that changes for cleanlab."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from roadmark_pipeline.model.label_quality import LabelQualityError, find_label_issues
from roadmark_pipeline.model.score_scale import (
    CLEANLAB_HIGH,
    CLEANLAB_LOW,
    ScoreScale,
    fit_score_scale,
    match_flags,
    rescale_for_cleanlab,
)

NAMES = ["a", "b", "c"]


def _box(frame: str, class_id: int, x: float, score: float | None = None) -> dict:
    row = {"frame_id": frame, "class_id": class_id, "x1": x, "y1": 10.0, "x2": x + 40, "y2": 50.0}
    return row if score is None else {**row, "score": score}


def test_thresholds_are_cleanlabs_own():
    from cleanlab.internal import constants

    assert CLEANLAB_LOW == constants.LOW_PROBABILITY_THRESHOLD
    assert CLEANLAB_HIGH == constants.HIGH_PROBABILITY_THRESHOLD


def test_scale_is_read_off_the_precision_curve():
    # Ten predictions on one frame, best first; hit = it lands on a label box of its class.
    hits = [1, 1, 1, 1, 0, 1, 0, 0, 1, 0]
    scores = np.linspace(0.9, 0.45, 10)
    labels = pd.DataFrame([_box("f", 0, 100.0 * i) for i, hit in enumerate(hits) if hit])
    predictions = pd.DataFrame(
        [
            _box("f", 0, 100.0 * i if hit else 100.0 * i + 60, s)
            for i, (hit, s) in enumerate(zip(hits, scores, strict=True))
        ]
    )
    assert match_flags(predictions, labels).tolist() == [bool(h) for h in hits]

    scale = fit_score_scale(predictions, labels, high_precision=0.8, low_precision=0.5)
    # precision after each prediction: 1 1 1 1 .8 .83 .71 .63 .67 .6
    assert scale.high == pytest.approx(scores[5])
    assert scale.low == pytest.approx(scores[9])
    assert scale.top == pytest.approx(scores[0])
    mapped = scale.apply(scores)
    assert mapped[5] == pytest.approx(CLEANLAB_HIGH) and mapped[9] == pytest.approx(CLEANLAB_LOW)
    assert mapped[0] == pytest.approx(1.0)
    assert (np.diff(mapped) < 0).all()  # the model's own order is kept


def test_a_model_never_that_precise_never_reaches_095():
    labels = pd.DataFrame([_box("f", 0, 0.0)])
    predictions = pd.DataFrame([_box("f", 0, 0.0, 0.6), _box("f", 0, 200.0, 0.7)])
    scale = fit_score_scale(predictions, labels, high_precision=0.8)
    assert scale.high == float("inf")
    assert scale.apply([0.7, 0.6]).max() < CLEANLAB_HIGH


def test_rescale_keeps_the_raw_score_and_checks_columns():
    labels = pd.DataFrame([_box("f", 0, 0.0)])
    predictions = pd.DataFrame([_box("f", 0, 0.0, 0.4)])
    scaled = rescale_for_cleanlab(predictions, labels)
    assert scaled["raw_score"].tolist() == [0.4]
    assert scaled["score"].iloc[0] == pytest.approx(CLEANLAB_HIGH)  # the one precise score
    with pytest.raises(LabelQualityError, match="predictions lack columns"):
        rescale_for_cleanlab(predictions.drop(columns="score"), labels)


def test_rescaled_scores_let_cleanlab_see_a_swap_raw_scores_hide():
    frames = pd.DataFrame({"frame_id": [f"s/{i}" for i in range(6)]})
    labels, predictions = [], []
    for i, fid in enumerate(frames["frame_id"]):
        labels += [_box(fid, 0, 0.0), _box(fid, 1, 300.0)]
        predictions += [_box(fid, 0, 0.0, 0.85 - i / 100), _box(fid, 1, 300.0, 0.8 - i / 100)]
    labels = pd.DataFrame(labels)
    labels.loc[7, "class_id"] = 2  # frame s/3: the class-1 box was labelled class 2
    predictions = pd.DataFrame(predictions)

    raw = find_label_issues(frames, labels, predictions, NAMES)
    assert not raw["is_issue"].any()
    assert (raw["swap_score"] == 1.0).all()  # no prediction above 0.95: no swap evidence

    scaled = find_label_issues(frames, labels, rescale_for_cleanlab(predictions, labels), NAMES)
    worst, rest = scaled.iloc[0], scaled.iloc[1:]
    assert worst["frame_id"] == "s/3"
    assert worst["swap_score"] < 0.01 and worst["quality_score"] < 0.1
    assert rest["quality_score"].tolist() == pytest.approx([1.0] * len(rest))


def test_scale_apply_handles_a_degenerate_curve():
    scale = ScoreScale(low=0.3, high=0.3, top=0.3)
    mapped = scale.apply([0.0, 0.3, 0.31])
    assert mapped[0] == 0.0 and mapped[1] == pytest.approx(CLEANLAB_HIGH) and mapped[2] == 1.0
