"""select_relabel_sample: drifted frames only, spread over camera model x brightness bucket."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from roadmark_pipeline.monitoring.drift import drift_report
from roadmark_pipeline.monitoring.relabel import (
    DriftVerdict,
    RelabelSampleError,
    allocate,
    brightness_bucket,
    select_relabel_sample,
)
from tests.monitoring.conftest import make_batch


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory):
    """A day where cam-b (a new, darker camera) drifts and cam-a does not."""
    reference = make_batch("ref", 400, seed=1)
    same = make_batch("a", 300, seed=2)
    dark = make_batch("b", 120, camera_model="cam-b", device_id="dev-09", seed=3)
    dark["brightness"] = np.r_[np.full(117, 40.0), np.full(3, 150.0)]  # 3 bright frames: rare
    dark["contrast"] = dark["contrast"] / 3
    dark["blur"] = dark["blur"] / 5
    table = pd.concat([same, dark], ignore_index=True)
    out = tmp_path_factory.mktemp("relabel")
    return table, drift_report(reference, table, out_dir=out, day="2025-03-14")


def test_sample_comes_from_the_drifted_camera_only(day) -> None:
    table, result = day
    assert result.drifted_segments == ("cam-b",)

    sample = select_relabel_sample(table, result, n=20, seed=0)

    assert len(sample) == 20
    assert set(sample["camera_model"]) == {"cam-b"}
    assert sample["row_id"].is_unique
    assert set(sample["brightness_bucket"]) == {"dark", "bright"}  # the rare 3 are represented


def test_same_seed_same_sample_other_seed_other_sample(day) -> None:
    table, result = day
    first = select_relabel_sample(table, result, n=10, seed=1)
    again = select_relabel_sample(table, result, n=10, seed=1)
    other = select_relabel_sample(table, result, n=10, seed=2)
    assert first["row_id"].tolist() == again["row_id"].tolist()
    assert first["row_id"].tolist() != other["row_id"].tolist()


def test_asking_for_more_than_drifted_gives_all_drifted(day) -> None:
    table, result = day
    sample = select_relabel_sample(table, result, n=10_000)
    assert len(sample) == 120


def test_no_drift_gives_an_empty_sample(tmp_path: Path) -> None:
    reference, current = make_batch("r", 200, seed=1), make_batch("c", 200, seed=2)
    result = drift_report(reference, current, out_dir=tmp_path)
    assert not result.flagged
    sample = select_relabel_sample(current, result, n=5)
    assert sample.empty and {"stratum", "brightness_bucket"} <= set(sample.columns)


def test_overall_drift_without_segments_samples_everything(tmp_path: Path) -> None:
    reference = make_batch("r", 200, seed=1)
    current = make_batch("c", 200, seed=2)
    current["brightness"] -= 80
    current["contrast"] /= 3
    current["blur"] /= 4
    result = drift_report(reference, current, out_dir=tmp_path, segment_column=None)
    sample = select_relabel_sample(current, result, n=12)
    assert result.status == "drift" and len(sample) == 12


def test_n_must_be_positive(day) -> None:
    table, result = day
    with pytest.raises(RelabelSampleError, match="n=0"):
        select_relabel_sample(table, result, n=0)


@pytest.mark.parametrize(
    ("sizes", "n", "expected"),
    [
        ({"a": 100, "b": 3}, 10, {"a": 9, "b": 1}),  # a rare stratum still gets one
        ({"a": 100, "b": 3}, 103, {"a": 100, "b": 3}),  # everything
        ({"a": 5, "b": 5, "c": 5}, 2, {"a": 1, "b": 1, "c": 0}),  # fewer draws than strata
        ({"a": 1, "b": 50, "c": 49}, 10, {"a": 1, "b": 5, "c": 4}),
        ({"a": 2, "b": 2}, 3, {"a": 2, "b": 1}),
    ],
)
def test_allocate(sizes: dict, n: int, expected: dict) -> None:
    take = allocate(pd.Series(sizes), n)
    assert take.to_dict() == expected
    assert take.sum() == n and (take <= pd.Series(sizes)).all()


def test_brightness_buckets_edges() -> None:
    values = pd.Series([0.0, 49.9, 50.0, 129.9, 130.0, 255.0, np.nan])
    assert brightness_bucket(values).tolist() == [
        "dark",
        "dark",
        "dim",
        "mid",
        "bright",
        "glare",
        "unknown",
    ]


def test_a_stored_verdict_draws_the_same_sample_as_the_full_result(day) -> None:
    # The relabel asset only has the drift report's stored metadata, not the DriftResult.
    table, result = day
    stored = DriftVerdict.from_metadata(result.to_metadata(), segment_column="camera_model")
    assert stored == DriftVerdict.of(result)
    from_record = select_relabel_sample(table, stored, n=15, seed=4)
    from_result = select_relabel_sample(table, result, n=15, seed=4)
    assert from_record["row_id"].tolist() == from_result["row_id"].tolist()
