"""SIMULATED annotators on the shipped labels: seeded, recorded errors, and the vote recovers."""

from __future__ import annotations

import pandas as pd
import pytest

from roadmark_pipeline.labeling.consensus import consensus_labels
from roadmark_pipeline.labeling.convert import parse_export
from roadmark_pipeline.labeling.exports import split_by_annotator
from roadmark_pipeline.labeling.overlap import assign_annotators
from roadmark_pipeline.labeling.sdk import LabelingError
from roadmark_pipeline.labeling.simulate import (
    SimulationConfig,
    precision_at_n,
    recovery,
    simulate_annotators,
    simulated_annotators,
)
from roadmark_pipeline.shipped import shipped_export
from roadmark_pipeline.taxonomy import class_names

from .helpers import annotation, rect, task


@pytest.fixture(scope="module")
def shipped():
    tables = parse_export(shipped_export(), class_names())
    sizes = tables.boxes.groupby("frame_id")[["width", "height"]].first()
    frames = tables.tasks[["frame_id"]].join(sizes, on="frame_id")
    return tables.boxes, frames


def test_names_say_simulated() -> None:
    names = simulated_annotators(3)
    assert names[0] == "simulated-annotator-1@simulated.roadmark.local"
    assert all("simulated" in name for name in names)


def test_same_seed_same_annotators(shipped) -> None:
    truth, frames = shipped
    one = simulate_annotators(truth, frames, SimulationConfig(seed=7))
    two = simulate_annotators(truth, frames, SimulationConfig(seed=7))
    other = simulate_annotators(truth, frames, SimulationConfig(seed=8))
    pd.testing.assert_frame_equal(one.boxes, two.boxes)
    pd.testing.assert_frame_equal(one.planted, two.planted)
    assert not one.boxes.equals(other.boxes)


def test_error_free_annotators_reproduce_the_truth(shipped) -> None:
    truth, frames = shipped
    clean = SimulationConfig(
        jitter_frac=0, drop_rate=0, swap_rate=0, shift_rate=0, borderline_share=0
    )
    simulation = simulate_annotators(truth, frames, clean)
    assert simulation.planted.empty
    for name in simulation.annotators:
        mine = simulation.boxes[simulation.boxes["annotator"] == name]
        assert recovery(mine, truth) | {"precision": 1, "recall": 1} == recovery(mine, truth)


def test_planted_errors_are_recorded_at_the_configured_rates(shipped) -> None:
    truth, frames = shipped
    config = SimulationConfig(drop_rate=0.1, swap_rate=0.05, shift_rate=0.05, seed=1)
    simulation = simulate_annotators(truth, frames, config)
    counts = simulation.planted.groupby("kind").size() / (len(truth) * 3)
    assert counts["overlooked"] == pytest.approx(0.1, abs=0.03)
    assert counts["swapped"] == pytest.approx(0.05 * 0.9, abs=0.02)
    assert counts["badly_located"] == pytest.approx(0.05 * 0.9, abs=0.02)
    drawn = simulation.boxes.groupby("annotator").size()
    overlooked = simulation.planted[simulation.planted["kind"] == "overlooked"]
    assert (drawn + overlooked.groupby("annotator").size() == len(truth)).all()
    swapped = simulation.planted[simulation.planted["kind"] == "swapped"]
    assert (swapped["class_id"] != swapped["new_class_id"]).all()


def test_majority_vote_beats_every_single_annotator(shipped) -> None:
    truth, frames = shipped
    simulation = simulate_annotators(truth, frames, SimulationConfig(seed=0))
    looked = simulation.lead_times.assign(was_cancelled=False)
    result = consensus_labels(simulation.boxes, looked, class_names())
    voted = recovery(result.boxes, truth)
    assert voted["recall"] > 0.97 and voted["precision"] > 0.98
    for name in simulation.annotators:
        alone = recovery(simulation.boxes[simulation.boxes["annotator"] == name], truth)
        assert voted["recall"] > alone["recall"] and voted["precision"] > alone["precision"]


def test_assignment_follows_overlap() -> None:
    overlap = {f"f/{i}": (3 if i < 4 else 1) for i in range(10)}
    plan = assign_annotators(overlap, ["a", "b", "c"])
    assert all(len(set(plan[f"f/{i}"])) == 3 for i in range(4))
    singles = [plan[f"f/{i}"][0] for i in range(4, 10)]
    assert sorted(singles.count(name) for name in "abc") == [2, 2, 2]
    with pytest.raises(LabelingError, match="needs 3 annotators"):
        assign_annotators(overlap, ["a", "b"])


def test_simulation_follows_an_assignment(shipped) -> None:
    truth, frames = shipped
    names = simulated_annotators(3)
    overlap = {frame: (3 if i % 2 else 1) for i, frame in enumerate(frames["frame_id"])}
    plan = assign_annotators(overlap, names)
    simulation = simulate_annotators(truth, frames, SimulationConfig(), plan)
    per_frame = simulation.lead_times.groupby("frame_id")["annotator"].nunique()
    assert per_frame.to_dict() == {frame: len(who) for frame, who in plan.items()}


def test_precision_at_n() -> None:
    assert precision_at_n(["a", "b", "c", "d"], {"a", "c"}, 2) == 0.5
    assert precision_at_n(["a", "c"], {"a", "c"}, 2) == 1.0


def test_split_by_annotator() -> None:
    alice, bob = {"id": 1, "email": "alice@x"}, {"id": 2, "email": "bob@x"}
    export = [
        task(1, [annotation(1, [rect(1, 1, 5, 5, "a")], user=alice), annotation(2, [], user=bob)]),
        task(2, [annotation(3, [], user=bob, cancelled=True)]),
        task(3, []),
    ]
    split = split_by_annotator(export)
    assert list(split) == ["alice@x", "bob@x"]
    assert [t["id"] for t in split["alice@x"]] == [1]
    assert [t["id"] for t in split["bob@x"]] == [1, 2]
    assert [a["id"] for a in split["bob@x"][0]["annotations"]] == [2]
    assert len(export[0]["annotations"]) == 2  # the input is left alone


def test_cleanlab_ranks_planted_errors_first_with_a_simulated_detector(shipped) -> None:
    # The model room's cleanlab search on one SIMULATED annotator's labels, with SIMULATED
    # predictions as good as the shipped labels: the planted errors must come first.
    from roadmark_pipeline.labeling.simulate import simulated_detector
    from roadmark_pipeline.model.label_quality import find_label_issues

    truth, frames = shipped
    config = SimulationConfig(drop_rate=0.01, swap_rate=0.01, shift_rate=0.01, seed=0)
    simulation = simulate_annotators(truth, frames, config)
    first = simulation.annotators[0]
    labels = simulation.boxes[simulation.boxes["annotator"] == first]
    issues = find_label_issues(frames, labels, simulated_detector(truth), class_names())

    planted = simulation.planted_frames(first)
    base_rate = len(planted) / len(frames)
    assert base_rate < 0.3
    assert precision_at_n(issues["frame_id"].tolist(), planted, 10) >= 0.8
