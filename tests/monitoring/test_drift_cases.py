"""Drift pre-checks: shared cases R18 (constant column) and R19 (tiny / all-NaN batch), and
inputs of the same kinds made here. Real Evidently throughout."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from roadmark_pipeline.monitoring.drift import DriftConfig, drift_report
from roadmark_pipeline.monitoring.result import STATUS_INSUFFICIENT, STATUS_NO_DRIFT


def read_case(cases_dir: Path, case: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    folder = cases_dir / case
    return pd.read_csv(folder / "reference.csv"), pd.read_csv(folder / "current.csv")


def only(*columns: str, **kwargs) -> DriftConfig:
    return DriftConfig(input_columns=columns, output_columns=(), **kwargs)


def column(result, name: str) -> pd.Series:
    return result.columns.set_index("column").loc[name]


def test_r18_constant_category_scores_a_number_not_nan(cases_dir: Path, tmp_path: Path) -> None:
    reference, current = read_case(cases_dir, "R18")
    result = drift_report(
        reference, current, config=only("road_type", "brightness"), out_dir=tmp_path
    )

    road = column(result, "road_type")
    assert road["score"] == pytest.approx(1.0) and not road["drifted"] and road["evaluated"]
    assert column(result, "brightness")["score"] == pytest.approx(0.549, abs=1e-3)  # K-S
    assert result.drifted_share == 0.0
    assert result.status == STATUS_NO_DRIFT


def test_r18_with_chi_square_forced_guards_the_nan(cases_dir: Path, tmp_path: Path) -> None:
    reference, current = read_case(cases_dir, "R18")
    config = only("road_type", "brightness", cat_method="chisquare")
    result = drift_report(reference, current, config=config, out_dir=tmp_path)

    road = column(result, "road_type")
    assert road["stattest"] == "chisquare"  # Evidently returns NaN for this one
    assert road["score"] == 1.0 and not road["drifted"] and "NaN" in road["note"]
    assert result.drifted_share == 0.0 and result.status == STATUS_NO_DRIFT


def test_r19_tiny_all_nan_batch_is_insufficient(cases_dir: Path, tmp_path: Path) -> None:
    reference, current = read_case(cases_dir, "R19")
    result = drift_report(
        reference, current, config=only("brightness", "num_boxes"), out_dir=tmp_path
    )

    brightness, boxes = column(result, "brightness"), column(result, "num_boxes")
    assert not brightness["evaluated"] and brightness["n_current"] == 0
    assert not boxes["evaluated"] and boxes["n_current"] == 1
    assert "min_samples 30" in boxes["note"]
    assert result.status == STATUS_INSUFFICIENT and not result.flagged
    assert result.drifted_share == 0.0
    saved = json.loads(result.json_path.read_text())
    assert saved["status"] == STATUS_INSUFFICIENT
    assert result.html_path.exists()


def test_r19_with_enough_rows_but_nan_column_judges_the_rest(
    cases_dir: Path, tmp_path: Path
) -> None:
    reference, _ = read_case(cases_dir, "R19")
    current = reference.sample(200, random_state=0).assign(brightness=np.nan)
    result = drift_report(
        reference, current, config=only("brightness", "num_boxes"), out_dir=tmp_path
    )
    assert result.evaluated_columns == ("num_boxes",)
    assert result.status == STATUS_NO_DRIFT


RNG = np.random.default_rng(7)
NORMAL_REF = RNG.normal(100, 10, 300)
NORMAL_CUR = RNG.normal(100, 10, 300)

# (case, reference columns, current columns, column -> (evaluated, drifted), note word)
KINDS = [
    (
        "constant_numeric_both",
        {"x": np.full(300, 5.0), "y": NORMAL_REF},
        {"x": np.full(300, 5.0), "y": NORMAL_CUR},
        {"x": (True, False)},
        "",
    ),
    (
        "constant_in_reference_not_current",
        {"x": np.full(300, 5.0), "y": NORMAL_REF},
        {"x": RNG.normal(5, 1, 300), "y": NORMAL_CUR},
        {"x": (True, True)},
        "",
    ),
    (
        "all_nan_reference_column",
        {"x": np.full(300, np.nan), "y": NORMAL_REF},
        {"x": NORMAL_CUR, "y": NORMAL_CUR},
        {"x": (False, False)},
        "0 usable reference",
    ),
    (
        "column_missing_from_current",
        {"x": NORMAL_REF, "y": NORMAL_REF},
        {"y": NORMAL_CUR},
        {"x": (False, False)},
        "missing from current",
    ),
    (
        "bool_constant_both",
        {"x": np.zeros(300, bool), "y": NORMAL_REF},
        {"x": np.zeros(300, bool), "y": NORMAL_CUR},
        {"x": (True, False)},
        "",
    ),
    (
        "bool_flipped",
        {"x": RNG.random(300) < 0.1, "y": NORMAL_REF},
        {"x": RNG.random(300) < 0.8, "y": NORMAL_CUR},
        {"x": (True, True)},
        "",
    ),
    (
        "bool_with_gaps",
        {"x": np.where(RNG.random(300) < 0.5, None, RNG.random(300) < 0.3), "y": NORMAL_REF},
        {"x": np.where(RNG.random(300) < 0.5, None, RNG.random(300) < 0.3), "y": NORMAL_CUR},
        {"x": (True, False)},
        "",
    ),
    (
        "inf_values",
        {"x": NORMAL_REF, "y": NORMAL_REF},
        {"x": np.where(np.arange(300) < 20, np.inf, NORMAL_CUR), "y": NORMAL_CUR},
        {"x": (True, False)},
        "20 infinite",
    ),
    (
        "only_inf_in_current",
        {"x": NORMAL_REF, "y": NORMAL_REF},
        {"x": np.full(300, -np.inf), "y": NORMAL_CUR},
        {"x": (False, False)},
        "0 usable current",
    ),
    (
        "text_in_current_numeric_in_reference",
        {"x": NORMAL_REF, "y": NORMAL_REF},
        {"x": ["a"] * 300, "y": NORMAL_CUR},
        {"x": (False, False)},
        "type differs",
    ),
]


@pytest.mark.parametrize(
    ("case", "ref_cols", "cur_cols", "expected", "word"), KINDS, ids=[k[0] for k in KINDS]
)
def test_column_kinds_never_crash_or_nan(
    tmp_path: Path, case, ref_cols, cur_cols, expected, word
) -> None:
    reference, current = pd.DataFrame(ref_cols), pd.DataFrame(cur_cols)
    result = drift_report(reference, current, config=only("x", "y"), out_dir=tmp_path)

    for name, (evaluated, drifted) in expected.items():
        row = column(result, name)
        assert (bool(row["evaluated"]), bool(row["drifted"])) == (evaluated, drifted), row
        assert word in row["note"]
        if evaluated:
            assert math.isfinite(row["score"])
    assert math.isfinite(result.drifted_share)
    assert not column(result, "y")["drifted"]  # the untouched column stays quiet
    json.loads(result.json_path.read_text())  # valid JSON, no NaN literals


@pytest.mark.parametrize("rows", [0, 1, 29])
def test_too_few_rows_is_insufficient_not_drift(tmp_path: Path, rows: int) -> None:
    reference = pd.DataFrame({"x": NORMAL_REF})
    current = pd.DataFrame({"x": np.full(rows, 1e6)})  # wildly off, but too little of it
    result = drift_report(reference, current, config=only("x"), out_dir=tmp_path)
    assert result.status == STATUS_INSUFFICIENT and result.event_key() == ""
    assert str(rows) in result.reason


def test_exactly_min_samples_rows_is_judged(tmp_path: Path) -> None:
    reference = pd.DataFrame({"x": NORMAL_REF})
    current = pd.DataFrame({"x": RNG.normal(300, 10, 30)})
    result = drift_report(reference, current, config=only("x"), out_dir=tmp_path)
    assert result.status == "drift" and result.drifted_columns == ("x",)


def test_nothing_evaluable_is_insufficient(tmp_path: Path) -> None:
    reference = pd.DataFrame({"x": NORMAL_REF})
    current = pd.DataFrame({"other": NORMAL_CUR})
    result = drift_report(reference, current, config=only("x"), out_dir=tmp_path)
    assert result.status == STATUS_INSUFFICIENT
    assert "0 columns evaluated" in result.reason


@pytest.mark.parametrize(
    ("settings", "word"),
    [({"drift_share": 0.0}, "drift_share"), ({"min_samples": 0}, "min_samples")],
)
def test_bad_config_names_the_setting(settings: dict, word: str) -> None:
    with pytest.raises(ValueError, match=word):
        DriftConfig(**settings)


def test_input_shift_is_not_drowned_by_many_quiet_output_columns(tmp_path: Path) -> None:
    """3 of 5 input metrics drift, 9 output columns do not: the input group decides."""
    rng = np.random.default_rng(11)
    quiet = {f"det_{i}": rng.poisson(1, 600) for i in range(9)}
    reference = pd.DataFrame({"a": rng.normal(0, 1, 300), "b": rng.normal(0, 1, 300)})
    reference = reference.assign(c=rng.normal(0, 1, 300), d=rng.normal(0, 1, 300))
    reference = reference.assign(e=rng.normal(0, 1, 300), **{k: v[:300] for k, v in quiet.items()})
    current = reference.copy()
    current[["a", "b", "c"]] += 3.0
    current = current.assign(**{k: v[300:] for k, v in quiet.items()})
    config = DriftConfig(input_columns=("a", "b", "c", "d", "e"), output_columns=())

    result = drift_report(reference, current, config=config, out_dir=tmp_path)

    assert result.group_shares["input"] == pytest.approx(0.6)
    assert result.group_shares["output"] < 0.5
    assert result.status == "drift" and result.drifted_share == pytest.approx(0.6)
    assert result.to_metadata()["drifted_share_input"] == pytest.approx(0.6)


@pytest.mark.parametrize(
    ("count_method", "drifted"),
    [("ks", False), (None, True)],  # None: Evidently's own choice, chi-square, cries drift
)
def test_a_count_unseen_in_the_reference_is_not_drift_by_itself(
    tmp_path: Path, count_method: str | None, drifted: bool
) -> None:
    rng = np.random.default_rng(5)
    reference = pd.DataFrame({"det_crosswalk": rng.choice([0, 1, 2], 400, p=[0.7, 0.2, 0.1])})
    current = pd.DataFrame({"det_crosswalk": rng.choice([0, 1, 2], 400, p=[0.7, 0.2, 0.1])})
    current.loc[:2, "det_crosswalk"] = 3  # three frames with three crosswalks
    config = DriftConfig(input_columns=(), output_columns=(), count_method=count_method)

    result = drift_report(reference, current, config=config, out_dir=tmp_path)

    assert result.evaluated_columns == ("det_crosswalk",)
    assert bool(column(result, "det_crosswalk")["drifted"]) is drifted
