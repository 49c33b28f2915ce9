"""Annotations per hour from Label Studio's clocks, and the ETA to a target per class."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from roadmark_pipeline.labeling.throughput import annotation_rates, eta_per_class

T0 = pd.Timestamp("2026-03-02T09:00:00Z")


def annotations(name: str, minutes: list[float], lead: float | None = None, boxes: int = 2):
    return pd.DataFrame(
        {
            "annotator": name,
            "was_cancelled": False,
            "n_boxes": boxes,
            "created_at": [T0 + pd.Timedelta(minutes=m) for m in minutes],
            "lead_time_s": lead if lead is not None else float("nan"),
        }
    )


def test_active_rate_from_submission_times() -> None:
    # 10 annotations a minute apart: 9 gaps + 1 typical gap for the first = 10 minutes -> 60/h
    rates = annotation_rates(annotations("a", list(range(10))))
    row = rates.iloc[0]
    assert row["per_hour_active"] == pytest.approx(60)
    assert math.isnan(row["per_hour_lead"])
    assert row["per_hour"] == pytest.approx(60)
    assert row["boxes_per_hour"] == pytest.approx(120)


def test_breaks_are_not_work() -> None:
    # two sessions of 5, an hour apart: 8 one-minute gaps + 2 session starts = 10 minutes
    rates = annotation_rates(annotations("a", [0, 1, 2, 3, 4, 64, 65, 66, 67, 68]))
    assert rates.iloc[0]["per_hour_active"] == pytest.approx(60)


def test_lead_time_rate_wins_when_recorded() -> None:
    table = annotations("a", list(range(10)), lead=30.0)
    table.loc[0, "was_cancelled"] = True  # a skip costs time but is no annotation
    row = annotation_rates(table).iloc[0]
    assert row["annotations"] == 9 and row["skipped"] == 1
    assert row["per_hour_lead"] == pytest.approx(9 / (300 / 3600))
    assert row["per_hour"] == row["per_hour_lead"]


def test_rates_per_annotator() -> None:
    table = pd.concat([annotations("a", [0, 1, 2]), annotations("b", [0, 2, 4])])
    rates = annotation_rates(table).set_index("annotator")
    assert rates.loc["a", "per_hour"] == pytest.approx(2 * rates.loc["b", "per_hour"])


def test_eta_per_class() -> None:
    boxes = pd.DataFrame({"class_name": ["line"] * 40 + ["rail"] * 4})
    rates = pd.DataFrame({"per_hour": [30.0, 30.0]})  # a team of two, 60 annotations/hour
    eta = eta_per_class(
        boxes,
        20,
        rates,
        {"line": 30, "rail": 24, "arrow": 5},
        ["line", "rail", "arrow"],
        annotators_per_frame=2,
        queued_frames=50,
    ).set_index("class_name")
    assert eta.loc["line", "eta_hours"] == 0 and eta.loc["line", "note"] == "target reached"
    # rail: 0.2 per frame, 20 more needed -> 100 frames at 30 frames/hour (overlap 2)
    assert eta.loc["rail", "frames_needed"] == pytest.approx(100)
    assert eta.loc["rail", "eta_hours"] == pytest.approx(100 / 30)
    assert not eta.loc["rail", "reachable"]
    assert math.isinf(eta.loc["arrow", "eta_hours"])
    assert "not seen yet" in eta.loc["arrow", "note"]


def test_eta_with_one_target_for_all() -> None:
    boxes = pd.DataFrame({"class_name": ["line"] * 10})
    eta = eta_per_class(boxes, 10, pd.DataFrame({"per_hour": [10.0]}), 20, ["line"])
    assert eta.loc[0, "eta_hours"] == pytest.approx(1.0)
    assert eta.loc[0, "reachable"] is None
