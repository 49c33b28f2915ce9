"""Frames -> real Label Studio -> annotations by two users -> export -> our tables, to 0.5 px."""

from __future__ import annotations

import httpx
import pandas as pd
import pytest

from roadmark_pipeline.labeling.client import LabelingProject
from roadmark_pipeline.labeling.config import label_config_xml
from roadmark_pipeline.labeling.convert import parse_export
from roadmark_pipeline.labeling.sdk import LabelingError, annotator_email
from roadmark_pipeline.labeling.server import connect
from roadmark_pipeline.taxonomy import class_names

from .conftest import TEST_TOKEN

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ANNOTATORS = ("alice@example.org", "bob")


@pytest.fixture(scope="module")
def project(ls_server, ls_document_root) -> LabelingProject:
    client = connect(ls_server.url, TEST_TOKEN)
    return LabelingProject.ensure(
        client,
        "roundtrip test",
        label_config_xml(class_names()),
        local_root=ls_document_root / "frames",
        document_root=ls_document_root,
    )


def _boxes(frame: dict, shift: float = 0.0) -> pd.DataFrame:
    w, h = frame["width"], frame["height"]
    return pd.DataFrame(
        [  # an interior box with fractional pixels, one touching the bottom-right corner
            {"class_id": 0, "x1": 10.3 + shift, "y1": 20.7, "x2": 100.45, "y2": 200.9},
            {"class_id": 5, "x1": w - 80.5, "y1": h - 40.25, "x2": w, "y2": h, "borderline": True},
        ]
    )


def test_ensure_is_idempotent_and_guards_class_ids(project, ls_server, ls_document_root) -> None:
    client = connect(ls_server.url, TEST_TOKEN)
    again = LabelingProject.ensure(
        client,
        "roundtrip test",
        label_config_xml(class_names()),
        local_root=ls_document_root / "frames",
        document_root=ls_document_root,
    )
    assert again.id == project.id
    storages = client.import_storage.local.list(project=project.id)
    assert len(storages) == 1
    with pytest.raises(LabelingError, match="class ids would shift"):
        LabelingProject.ensure(
            client,
            "roundtrip test",
            label_config_xml(list(reversed(class_names()))),
            local_root=ls_document_root / "frames",
            document_root=ls_document_root,
        )


def test_import_is_idempotent_and_carries_predictions(project, ls_frames) -> None:
    frames = pd.DataFrame(ls_frames)
    first = frames.iloc[0]
    predictions = pd.DataFrame(
        [
            {
                "frame_id": first["frame_id"],
                "class_id": 2,
                "x1": 5,
                "y1": 6,
                "x2": 50,
                "y2": 60,
                "score": 0.9,
            },
            {
                "frame_id": first["frame_id"],
                "class_id": 0,
                "x1": 100,
                "y1": 100,
                "x2": 300,
                "y2": 200,
                "score": 0.4,
            },
        ]
    )
    assert project.import_frames(frames.iloc[:5], predictions, model_version="det-v1") == 5
    assert project.import_frames(frames, predictions, model_version="det-v1") == len(frames) - 5
    assert project.import_frames(frames) == 0
    assert set(project.task_ids_by_frame()) == set(frames["frame_id"])

    task = next(t for t in project.export() if t["data"]["frame_id"] == first["frame_id"])
    assert task["data"]["camera_model"] == "udacity-dashcam"
    (prediction,) = task["predictions"]
    assert prediction["model_version"] == "det-v1"
    assert prediction["score"] == pytest.approx(0.65)
    assert sorted(r["score"] for r in prediction["result"]) == [0.4, 0.9]
    assert prediction["result"][0]["value"]["rectanglelabels"] == ["yellow_line"]


def test_images_are_served_to_the_browser(project, ls_server, ls_frames) -> None:
    frame = ls_frames[-1]
    url = project.image_url(frame["path"])
    response = httpx.get(f"{ls_server.url}{url}", headers={"Authorization": f"Token {TEST_TOKEN}"})
    assert response.status_code == 200
    assert response.content == open(frame["path"], "rb").read()


def test_frames_outside_the_root_are_refused(project, tmp_path) -> None:
    with pytest.raises(LabelingError, match="not under the project's local root"):
        project.image_url(tmp_path / "x.jpg")


def test_two_annotators_round_trip_within_half_a_pixel(project, ls_frames) -> None:
    labelled, empty, skipped = ls_frames[0], ls_frames[6], ls_frames[7]
    for index, annotator in enumerate(ANNOTATORS):
        project.submit_annotation(
            labelled["frame_id"],
            _boxes(labelled, shift=index),
            annotator=annotator,
            lead_time_s=30 + index,
        )
    project.submit_annotation(empty["frame_id"], _boxes(empty).iloc[:0], annotator="bob")
    project.skip_frame(skipped["frame_id"], annotator="alice@example.org")

    tables = parse_export(project.export(), class_names())
    status = dict(zip(tables.tasks["frame_id"], tables.tasks["status"], strict=True))
    assert status[labelled["frame_id"]] == "labelled"
    assert status[empty["frame_id"]] == "reviewed_empty"
    assert status[skipped["frame_id"]] == "cancelled"
    assert list(status.values()).count("unannotated") == len(ls_frames) - 3

    for index, annotator in enumerate(ANNOTATORS):
        got = tables.boxes[tables.boxes["annotator"] == annotator_email(annotator)]
        want = _boxes(labelled, shift=index)
        assert got["class_id"].tolist() == want["class_id"].tolist()
        assert got["borderline"].tolist() == [False, True]
        for column in ("x1", "y1", "x2", "y2"):
            assert got[column].to_numpy() == pytest.approx(want[column].to_numpy(), abs=0.5)
        assert got["lead_time_s"].iloc[0] == 30 + index
    assert project.annotated_frame_ids("bob") == {labelled["frame_id"], empty["frame_id"]}
    progress = project.progress()
    assert progress["tasks"] == len(ls_frames)
    assert progress["annotations"] == 3  # two on the labelled frame, one reviewed-empty
    assert progress["skipped_annotations"] == 1
    assert project.annotated_frame_ids("alice@example.org") == {labelled["frame_id"]}


def test_import_needs_frame_columns_and_a_model_version(project, ls_frames) -> None:
    frames = pd.DataFrame(ls_frames)
    with pytest.raises(LabelingError, match="missing columns"):
        project.import_frames(frames.drop(columns=["width"]))
    with pytest.raises(LabelingError, match="model_version"):
        project.import_frames(frames, pd.DataFrame(columns=["frame_id"]))
    with pytest.raises(LabelingError, match="frame ids repeat"):
        project.import_frames(pd.concat([frames, frames.iloc[:1]]))


def test_unknown_frame_is_a_clear_error(project) -> None:
    with pytest.raises(LabelingError, match="no task"):
        project.submit_annotation("ffffffffffffffff/1", pd.DataFrame(), annotator="bob")


def test_predictions_that_found_nothing_import_without_a_model_version(
    ls_server, ls_document_root, ls_frames
) -> None:
    # A weak production model can find nothing on the new frames; Label Studio refuses a model
    # version that no task carries, so the import must not ask for one.
    fresh = LabelingProject.ensure(
        connect(ls_server.url, TEST_TOKEN),
        "empty predictions test",
        label_config_xml(class_names()),
        local_root=ls_document_root / "frames",
        document_root=ls_document_root,
    )
    frames = pd.DataFrame(ls_frames).iloc[:2]
    nothing = pd.DataFrame(columns=["frame_id", "class_id", "x1", "y1", "x2", "y2", "score"])
    assert fresh.import_frames(frames, nothing, model_version="never-predicted") == 2
    assert all(not task.get("predictions") for task in fresh.export())
