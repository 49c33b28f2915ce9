"""Thresholds per class, confusion table, per-slice scores, error analysis and the report files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from roadmark_pipeline.model.breakdown import error_analysis, slice_metrics
from roadmark_pipeline.model.confusion import BACKGROUND, MISSED, confusion_table, top_confusions
from roadmark_pipeline.model.evaluation import evaluate_detections
from roadmark_pipeline.model.report import build_report
from roadmark_pipeline.model.thresholds import ThresholdError, choose_class_thresholds

NAMES = ("white_line", "guardrail", "crosswalk")
BOX = ["frame_id", "class_id", "x1", "y1", "x2", "y2"]


def table(rows, score=False):
    return pd.DataFrame(rows, columns=BOX + (["score"] if score else []))


def scene():
    """Two clips: 'day' is found well, 'night' badly; a guardrail is once taken for a line."""
    frames = pd.DataFrame(
        {
            "frame_id": ["d0", "d1", "d2", "n0"],
            "clip": ["day", "day", "day", "night"],
            "brightness": [140.0, 150.0, 130.0, 30.0],
        }
    )
    truth = table(
        [
            ("d0", 0, 0, 0, 10, 10),
            ("d1", 0, 0, 0, 10, 10),
            ("d2", 0, 0, 0, 10, 10),
            ("d2", 1, 50, 50, 90, 90),
            ("n0", 0, 0, 0, 10, 10),
            ("n0", 1, 50, 50, 90, 90),
        ]
    )
    preds = table(
        [
            ("d0", 0, 0, 0, 10, 10, 0.9),
            ("d1", 0, 0, 0, 10, 10, 0.8),
            ("d2", 0, 0, 0, 10, 10, 0.7),
            ("d2", 1, 50, 50, 90, 90, 0.6),
            ("d1", 0, 30, 30, 40, 40, 0.4),  # false alarm
            ("n0", 0, 50, 50, 90, 90, 0.85),  # the guardrail called a white line
            ("n0", 0, 0, 0, 10, 10, 0.05),  # the line found, barely
        ],
        score=True,
    )
    return frames, truth, preds


def test_best_f1_thresholds_and_defaults():
    frames, truth, preds = scene()
    chosen = choose_class_thresholds(evaluate_detections(truth, preds, frames, NAMES))
    # white_line ranks TP .9, FP .85, TP .8, TP .7, FP .4, TP .05 over 4 lines: F1 is 0.75 at
    # .7 (P 3/4, R 3/4) and 0.8 at .05 (P 4/6, R 1), the best.
    assert chosen.loc["white_line", "rule"] == "best_f1"
    assert chosen.loc["white_line", "threshold"] == pytest.approx(0.05)
    assert chosen.loc["white_line", "f1"] == pytest.approx(0.8)
    assert chosen.loc["crosswalk", "rule"] == "default: no ground truth"
    assert chosen.loc["crosswalk", "threshold"] == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("target", "threshold", "rule"),
    [
        (1.0, 0.9, "precision>=1"),  # the .85 false alarm ranks second: only .9 is clean
        (0.75, 0.7, "precision>=0.75"),  # P 3/4 at .7
        (0.6, 0.05, "precision>=0.6"),  # P 4/6 at .05, the lowest threshold reaching it
    ],
)
def test_target_precision_thresholds(target, threshold, rule):
    frames, truth, preds = scene()
    evaluation = evaluate_detections(truth, preds, frames, NAMES)
    row = choose_class_thresholds(evaluation, target_precision=target).loc["white_line"]
    assert row["threshold"] == pytest.approx(threshold) and row["rule"] == rule
    assert row["precision"] >= target


def test_bad_target_precision():
    frames, truth, preds = scene()
    with pytest.raises(ThresholdError, match="target_precision"):
        choose_class_thresholds(
            evaluate_detections(truth, preds, frames, NAMES), target_precision=0
        )


def test_confusion_shows_guardrail_taken_for_white_line():
    frames, truth, preds = scene()
    counts = confusion_table(truth, preds, frames, NAMES, conf=0.25)
    assert counts.at["guardrail", "white_line"] == 1  # n0: one object, called the wrong class
    assert counts.at["guardrail", "guardrail"] == 1
    assert counts.at["white_line", "white_line"] == 3
    assert counts.at["white_line", MISSED] == 1  # n0's line only scored 0.05
    assert counts.at[BACKGROUND, "white_line"] == 1  # the .4 false alarm on d1
    top = top_confusions(counts)
    assert top.iloc[0][["true", "predicted", "count"]].tolist() == ["guardrail", "white_line", 1]
    assert top.iloc[0]["share_of_true"] == pytest.approx(0.5)
    # Per-class operating points: lowering white_line's threshold finds n0's line.
    per_class = confusion_table(truth, preds, frames, NAMES, conf={"white_line": 0.01})
    assert per_class.at["white_line", MISSED] == 0


def test_slices_and_error_analysis_priorities():
    frames, truth, preds = scene()
    slices = slice_metrics(truth, preds, frames, NAMES)
    by = slices.set_index(["slice", "value"])
    assert set(by.index.get_level_values("slice")) == {"clip", "brightness_bucket"}
    assert by.loc[("clip", "day"), "n_frames"] == 3
    assert by.loc[("clip", "day"), "share"] == pytest.approx(0.75)
    assert by.loc[("clip", "day"), "map50"] > by.loc[("clip", "night"), "map50"]
    assert np.isnan(by.loc[("clip", "day"), "ap50:crosswalk"])

    agreement = pd.Series({"n0": 0.6})  # two annotators agreed only so far on the night frame
    errors = error_analysis(slices, frames, agreement=agreement, human_level=0.95)
    rows = errors.set_index(["slice", "value"])
    night = rows.loc[("clip", "night")]
    assert night["human_level"] == pytest.approx(0.6)
    assert night["human_source"].startswith("annotator agreement")
    assert rows.loc[("clip", "day"), "human_source"] == "configured"
    assert night["gap"] == pytest.approx(max(0.6 - night["score"], 0.0))
    assert (errors["priority"] == errors["gap"] * errors["share"]).all()
    assert errors["priority"].is_monotonic_decreasing


def test_report_writes_tables_and_png_curves(tmp_path):
    frames, truth, preds = scene()
    report = build_report(truth, preds, frames, NAMES, out_dir=tmp_path, dataset_version="v1")
    assert report.evaluation.dataset_version == "v1"
    for name in ("ap_table", "per_class", "thresholds", "slices", "error_analysis", "confusion"):
        assert report.files[name].is_file()
    assert set(report.plots) == {"all", "white_line", "guardrail"}  # no curve without truth
    assert report.plots["all"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = report.files["report"].read_text()
    assert "## AP50 per class at class-score thresholds" in text and "| 0.005 |" in text
    assert report.runtime_thresholds()[2] == pytest.approx(0.25)
