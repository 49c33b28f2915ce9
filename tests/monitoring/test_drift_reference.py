"""reference_from_training: the reference in telemetry names, outputs at release thresholds."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from roadmark_pipeline.monitoring.drift import drift_report
from roadmark_pipeline.monitoring.reference import ReferenceInputError, reference_from_training
from roadmark_pipeline.monitoring.schema import TELEMETRY_COLUMNS
from roadmark_pipeline.taxonomy import class_names
from tests.monitoring.conftest import make_batch

CLASSES = class_names()


def manifest(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "frame_id": [f"{'a' * 16}/{i}" for i in range(n)],
            "brightness": rng.normal(120, 15, n),
            "contrast": rng.normal(50, 8, n),
            "blur": rng.normal(300, 60, n),
            "overexposed_share": rng.uniform(0, 0.05, n),
            "underexposed_share": rng.uniform(0, 0.05, n),
            "camera_model": "cam-a",
            "width": 1280,
            "height": 720,
        }
    )


def boxes(rows: list[tuple[int, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "frame_id": f"{'a' * 16}/{i}",
                "class_id": CLASSES.index(name),
                "class_name": name,
                "x1": 0.0,
                "y1": 0.0,
                "x2": 10.0,
                "y2": 10.0,
                "score": score,
            }
            for i, name, score in rows
        ],
        columns=["frame_id", "class_id", "class_name", "x1", "y1", "x2", "y2", "score"],
    )


def test_outputs_follow_the_release_thresholds() -> None:
    frames = manifest(4)
    predictions = boxes(
        [
            (0, "white_line", 0.9),
            (0, "white_line", 0.5),
            (0, "guardrail", 0.35),  # under guardrail's threshold 0.4: the device drops it
            (1, "crosswalk", 0.2),  # under the default 0.25
            (2, "guardrail", 0.45),
        ]
    )
    reference = reference_from_training(
        frames,
        predictions,
        CLASSES,
        thresholds={"guardrail": 0.4, "white_line": 0.25, "crosswalk": 0.25},
        predicted_frame_ids=[f"{'a' * 16}/{i}" for i in range(3)],  # frame 3: not validated
    ).set_index("frame_id")
    rows = [reference.loc[f"{'a' * 16}/{i}"] for i in range(4)]

    assert [r["n_detections"] for r in rows[:3]] == [2, 0, 1]
    assert rows[0]["det_white_line"] == 2 and rows[0]["det_guardrail"] == 0
    assert rows[0]["mean_confidence"] == pytest.approx(0.7)
    assert rows[0]["max_confidence"] == pytest.approx(0.9)
    assert math.isnan(rows[1]["mean_confidence"]) and rows[1]["empty"] is True
    assert rows[2]["empty"] is False
    assert math.isnan(rows[3]["n_detections"]) and pd.isna(rows[3]["empty"])
    assert reference["row_id"].tolist() == reference.index.tolist()


def test_reference_columns_are_telemetry_columns() -> None:
    reference = reference_from_training(manifest(3), boxes([(0, "crosswalk", 0.9)]), CLASSES)
    outputs = {"n_detections", "mean_confidence", "max_confidence", "empty"}
    assert outputs <= set(TELEMETRY_COLUMNS) and outputs <= set(reference.columns)
    assert {f"det_{name}" for name in CLASSES} <= set(reference.columns)


def test_missing_manifest_column_names_the_table() -> None:
    with pytest.raises(ReferenceInputError, match="frames manifest lacks columns \\['blur'\\]"):
        reference_from_training(manifest(3).drop(columns=["blur"]), None, CLASSES)
    with pytest.raises(ReferenceInputError, match="predictions table"):
        reference_from_training(manifest(3), pd.DataFrame({"frame_id": []}), CLASSES)


def test_no_boxes_at_all_means_every_frame_empty() -> None:
    reference = reference_from_training(manifest(3), boxes([]), CLASSES)
    assert reference["empty"].tolist() == [True, True, True]
    assert reference["n_detections"].tolist() == [0, 0, 0]


def test_unknown_threshold_class_is_refused() -> None:
    with pytest.raises(ReferenceInputError, match="pothole"):
        reference_from_training(manifest(3), boxes([]), CLASSES, thresholds={"pothole": 0.3})


def test_output_drift_against_fleet_telemetry(tmp_path: Path) -> None:
    """A model that goes quiet on the fleet (mostly empty frames) drifts on the outputs."""
    rng = np.random.default_rng(3)
    frames = manifest(200)
    predictions = boxes(
        [(i, CLASSES[k % 6], float(rng.uniform(0.5, 0.95))) for i in range(200) for k in range(2)]
    )
    reference = reference_from_training(frames, predictions, CLASSES)
    fleet = make_batch("b1", 200, seed=4)
    fleet["brightness"] = frames["brightness"].to_numpy()  # inputs unchanged
    quiet = rng.random(200) < 0.9
    for name in CLASSES:
        fleet.loc[quiet, f"det_{name}"] = 0
    fleet["n_detections"] = fleet[[f"det_{name}" for name in CLASSES]].sum(axis=1)
    fleet["empty"] = fleet["n_detections"].eq(0)

    result = drift_report(reference, fleet, out_dir=tmp_path, segment_column=None)

    drifted = set(result.drifted_columns)
    assert {"n_detections", "empty"} <= drifted
    assert "brightness" not in drifted
