"""The labeling loop on the real server: overlap, SIMULATED annotators, vote, review tab."""

from __future__ import annotations

import pandas as pd
import pytest

from roadmark_pipeline.labeling.client import LabelingProject
from roadmark_pipeline.labeling.config import label_config_xml
from roadmark_pipeline.labeling.loop import evaluate_round, submit_simulation
from roadmark_pipeline.labeling.overlap import assign_annotators, configure_overlap
from roadmark_pipeline.labeling.review import REVIEW_TAB, review_frame_ids, send_for_review
from roadmark_pipeline.labeling.server import connect
from roadmark_pipeline.labeling.simulate import SimulationConfig, simulate_annotators
from roadmark_pipeline.taxonomy import class_names

from .conftest import TEST_TOKEN

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def loop(ls_server, ls_document_root, ls_frames):
    """A project with the test frames, half of them overlapped by three SIMULATED annotators."""
    project = LabelingProject.ensure(
        connect(ls_server.url, TEST_TOKEN),
        "loop test",
        label_config_xml(class_names()),
        local_root=ls_document_root / "frames",
        document_root=ls_document_root,
    )
    frames = pd.DataFrame(ls_frames)
    project.import_frames(frames)
    overlap = configure_overlap(project, 3, 0.5)
    truth = _grid_truth(frames)
    config = SimulationConfig(drop_rate=0.2, swap_rate=0.1, shift_rate=0.0, seed=5)
    plan = assign_annotators(
        overlap, [f"simulated-annotator-{i}@simulated.roadmark.local" for i in (1, 2, 3)]
    )
    simulation = simulate_annotators(truth, frames, config, plan)
    submitted = submit_simulation(project, simulation)
    return project, frames, truth, overlap, plan, simulation, submitted


def _grid_truth(frames: pd.DataFrame) -> pd.DataFrame:
    """Ten well-separated boxes per frame, classes cycling through the taxonomy."""
    rows = []
    for frame in frames.itertuples(index=False):
        w, h = frame.width / 5, frame.height / 2
        for k in range(10):
            x, y = (k % 5) * w, (k // 5) * h
            rows.append(
                {
                    "frame_id": frame.frame_id,
                    "class_id": k % 6,
                    "x1": x + 0.2 * w,
                    "y1": y + 0.2 * h,
                    "x2": x + 0.8 * w,
                    "y2": y + 0.8 * h,
                }
            )
    return pd.DataFrame(rows)


def test_server_assigns_the_overlap_cohort(loop) -> None:
    _, frames, _, overlap, plan, _, submitted = loop
    assert sorted(overlap.values()) == [1] * 4 + [3] * 4  # 3 annotators on 50% of 8 tasks
    assert submitted == sum(len(who) for who in plan.values()) == 16


def test_second_submission_adds_nothing(loop) -> None:
    project, *_, simulation, _ = loop
    assert submit_simulation(project, simulation) == 0


def test_export_per_annotator(loop) -> None:
    project, *_, plan, simulation, _ = loop
    split = project.export_by_annotator()
    assert sorted(split) == simulation.annotators
    for name, tasks in split.items():
        frames = {task["data"]["frame_id"] for task in tasks}
        assert frames == {frame for frame, who in plan.items() if name in who}
        assert all(
            annotation["completed_by"]["email"] == name
            for task in tasks
            for annotation in task["annotations"]
        )
    first = simulation.annotators[0]
    assert project.annotated_frame_ids(first) == {t["data"]["frame_id"] for t in split[first]}


def test_vote_follows_the_planted_errors(loop) -> None:
    project, frames, truth, overlap, plan, simulation, _ = loop
    report = evaluate_round(project.export(), class_names(), truth=truth)
    consensus = report.consensus.boxes

    # single-annotator frames: the consensus is that annotator's work, box for box
    for frame, who in plan.items():
        if len(who) == 1:
            mine = simulation.boxes[simulation.boxes["frame_id"] == frame]
            assert len(consensus[consensus["frame_id"] == frame]) == len(mine)

    # overlapped frames: a true box survives when at least 2 of 3 drew it (dropped = not drawn)
    overlapped = [frame for frame, who in plan.items() if len(who) == 3]
    dropped = simulation.planted[simulation.planted["kind"] == "overlooked"]
    misses = dropped.groupby(["frame_id", "x1", "y1"]).size()
    expected = sum(
        1
        for row in truth[truth["frame_id"].isin(overlapped)].itertuples(index=False)
        if misses.get((row.frame_id, row.x1, row.y1), 0) <= 1
    )
    kept = consensus[consensus["frame_id"].isin(overlapped)]
    assert len(kept) == expected
    assert report.recovery["consensus"]["recall"] > min(
        report.recovery[name]["recall"] for name in simulation.annotators
    )
    assert set(report.frame_agreement.index) == set(overlapped)


def test_lead_times_survive_and_give_the_rate(loop) -> None:
    project, *_, simulation, _ = loop
    report = evaluate_round(project.export(), class_names())
    rates = report.rates.set_index("annotator")
    for name, own in simulation.lead_times.groupby("annotator"):
        expected = len(own) / (own["lead_time_s"].sum() / 3600)
        assert rates.loc[name, "per_hour_lead"] == pytest.approx(expected, rel=1e-6)


def test_worst_issues_go_back_as_a_filterable_review_tab(loop) -> None:
    project, frames, *_ = loop
    ids = frames["frame_id"].tolist()
    issues = pd.DataFrame(
        {
            "frame_id": ids,
            "quality_score": [0.9, 0.2, 0.95, 0.1, 0.5, 0.99, 0.3, 0.97],
            "issue_type": ["", "swapped", "", "overlooked", "", "", "badly_located", ""],
        }
    )
    batch = send_for_review(project, issues, n_worst=3)
    assert batch.frame_ids == [ids[3], ids[1], ids[6]]
    assert review_frame_ids(project) == batch.frame_ids

    listed = project.client.tasks.list(project=project.id, view=batch.view_id)
    assert sorted(int(task.id) for task in listed) == sorted(batch.task_ids)
    views = project.client.views.list(project=project.id)
    assert [view.data["title"] for view in views].count(REVIEW_TAB) == 1

    # a new ranking replaces the old marks; the tab stays one tab
    again = send_for_review(
        project, issues.assign(quality_score=issues["quality_score"][::-1].values), 2
    )
    assert again.cleared == 3
    assert review_frame_ids(project) == again.frame_ids
    assert again.view_id == batch.view_id
    task = project.client.tasks.get(str(again.task_ids[0]))
    assert task.data["frame_id"] == again.frame_ids[0]  # the rest of the data is intact
