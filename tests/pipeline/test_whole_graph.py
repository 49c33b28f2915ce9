"""The whole asset graph on trimmed real clips, with the real Label Studio server.

The demo driver runs every stage as a Dagster run against a real (temporary) instance: landing
sensor, ingest, Label Studio tasks, annotations submitted through the API and pulled back,
cleanlab, dataset, training, evaluation, ONNX (parity check), TUF release, a device
updating over HTTP and running the clips, telemetry, drift report, drift sensor. Training is
tiny here; the figures are checked for shape and consistency, not for quality.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import dagster as dg
import pytest

from roadmark_pipeline.demo import DemoOptions
from roadmark_pipeline.ids import frame_id, sha256_file
from roadmark_pipeline.localserve import free_port
from tests.conftest import DATA

CLIPS = {"test_video.mp4": 24, "project_video_cut.mp4": 24}  # first N frames of each
STILLS = ("still_solidYellowLeft.jpg", "still_whiteCarLaneSwitch.jpg")


def trimmed_data(target: Path) -> Path:
    """Copy the first frames of two real clips (stream copy) and re-key their silver labels."""
    (target / "videos").mkdir(parents=True)
    (target / "stills").mkdir()
    (target / "labels").mkdir()
    new_sha = {}
    for name, frames in CLIPS.items():
        out = target / "videos" / name
        subprocess.run(
            [
                "ffmpeg",
                "-v",
                "error",
                "-i",
                str(DATA / "videos" / name),
                "-frames:v",
                str(frames),
                "-c",
                "copy",
                str(out),
            ],
            check=True,
        )
        new_sha[sha256_file(DATA / "videos" / name)] = (sha256_file(out), frames)
    for name in STILLS:
        shutil.copyfile(DATA / "stills" / name, target / "stills" / name)

    tasks = []
    for task in json.loads((DATA / "labels/annotations.labelstudio.json").read_text()):
        meta = task["meta"]
        if meta["frame_index"] == "still":
            if Path(task["data"]["image"]).name in STILLS:
                tasks.append(task)
        elif meta["source_sha256"] in new_sha:
            sha, frames = new_sha[meta["source_sha256"]]
            if meta["frame_index"] < frames:
                meta["source_sha256"] = sha
                tasks.append(task)
    (target / "labels/annotations.labelstudio.json").write_text(json.dumps(tasks))
    return target


def small_demo_options(target: Path) -> DemoOptions:
    """The demo on :func:`trimmed_data` under ``target`` with tiny training: stages, not quality."""
    return DemoOptions(
        new_camera_clip="test_video.mp4",
        drift_min_samples=10,
        data_dir=trimmed_data(target),
        epochs=2,
        imgsz=160,
        folds=2,
        fold_epochs=1,
        fold_imgsz=160,
        edge_every_n=2,
    )


def project_token(env: Path) -> str:
    """The API token the managed Label Studio was started with."""
    return (env / "home" / "labelstudio" / "api_token").read_text().strip()


@pytest.fixture()
def demo_env(tmp_path, monkeypatch):
    monkeypatch.setenv("ROADMARK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home" / "dagster"))
    monkeypatch.setenv("ROADMARK_LS_PORT", str(free_port()))
    yield tmp_path
    from roadmark_pipeline.labeling.server import LabelStudioServer

    server = LabelStudioServer(tmp_path / "home" / "labelstudio")
    server.stop()  # by the PID it recorded; the server must not outlive the test


@pytest.mark.integration
@pytest.mark.slow
def test_whole_graph_twice_on_trimmed_real_clips(demo_env):
    from roadmark_pipeline.demo import run_demo

    options = small_demo_options(demo_env / "data")
    data = options.data_dir
    first = run_demo(options)

    # Every source ingested, once; every stage ran as a recorded Dagster run.
    assert first.new_sources == len(CLIPS) + len(STILLS) + 1  # + the new camera's drive
    instance = dg.DagsterInstance.get()
    assert len(instance.get_dynamic_partitions("sources")) == 5
    table = first.evaluation["ap_table"]
    assert [float(t) for t in table["index"]] == [0.005, 0.01, 0.05, 0.1, 0.5]
    assert table["columns"] == [
        "white_line",
        "white_marking",
        "yellow_line",
        "yellow_marking",
        "crosswalk",
        "guardrail",
    ]
    assert 0.0 <= first.evaluation["map50"] <= 1.0
    assert first.parity["passed"] is True
    # The sanity check ran before training, the gate before release: all blocking, all passed.
    assert {name: passed for name, (passed, _) in first.checks.items()} == {
        "training_setup_can_overfit": True,
        "no_worse_than_production": True,
        "onnx_matches_pytorch": True,
    }
    assert first.release["new"] is True and first.release["channel"] == "stable"
    # Both devices' telemetry reached the fleet table; the new camera model is flagged.
    assert first.drift["n_current"] > 0
    assert first.drift["flagged"] is True
    assert first.drift["segment/acme-cam-b"].startswith("drift")
    assert first.drift_shipped["status"] in {"no_drift", "insufficient_data"}
    assert first.drift_sensor.startswith("2 runs launched")

    # The labels went through Label Studio and came back: a round trip, not a shortcut.
    from roadmark_pipeline.definitions import defs

    boxes = defs.load_asset_value("annotations", instance=instance)
    tasks = defs.load_asset_value("annotation_tasks", instance=instance)
    labelled = json.loads((data / "labels/annotations.labelstudio.json").read_text())
    expected_boxes = sum(len(task["annotations"][0]["result"]) for task in labelled)
    assert len(boxes) == expected_boxes
    assert set(tasks["status"]) == {"labelled"}
    still = next(t for t in labelled if t["meta"]["frame_index"] == "still")
    still_id = frame_id(sha256_file(data / "stills" / Path(still["data"]["image"]).name), 0)
    assert still_id in set(boxes["frame_id"])

    # Annotators see the frames: Label Studio serves every task's image from the lake.
    import urllib.request

    from assets.resources import LabelStudioResource, LakeResource
    from roadmark_pipeline.labeling.server import LabelStudioServer
    from roadmark_pipeline.taxonomy import class_names

    project = LabelStudioResource().project(LakeResource().local_path(), class_names())
    server = LabelStudioServer(demo_env / "home" / "labelstudio")
    image = project.export()[0]["data"]["image"]
    request = urllib.request.Request(
        server.recorded()["url"] + image,
        headers={"Authorization": f"Token {project_token(demo_env)}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200 and response.read(3) == b"\xff\xd8\xff"  # a JPEG

    # Twice in a row: no errors, no duplicates, nothing rebuilt that did not change.
    second = run_demo(options)
    assert second.new_sources == 0
    assert second.release["new"] is False
    assert second.release["version"] == first.release["version"]
    assert len(defs.load_asset_value("annotations", instance=instance)) == expected_boxes
    # The project now also holds the relabel sample's tasks; each frame has one task.
    all_tasks = defs.load_asset_value("labeling_tasks", instance=instance)
    assert all_tasks["frame_id"].is_unique
    assert set(tasks["frame_id"]) <= set(all_tasks["frame_id"])

    # The stable release made its model production, once; the second run moved nothing.
    from roadmark_pipeline.model.registry import ModelRegistry

    registry = ModelRegistry(demo_env / "home" / "lake" / "registry")
    assert registry.production().model_id == first.evaluation["model_id"]
    assert [entry.action for entry in registry.history()] == ["promote"]
    assert "already in production" in second.checks["no_worse_than_production"][1]

    # The drift event was acted on once: its relabel sample is in Label Studio with
    # pre-annotations, the canary channel has the retrained release; the rerun launched nothing.
    day = first.drift["day"]
    queue = defs.load_asset_value("relabel_queue", instance=instance, partition_key=day)
    assert len(queue) > 0 and set(queue["camera_model"]) == {"acme-cam-b"}
    assert set(all_tasks["frame_id"]) == set(tasks["frame_id"]) | set(queue["frame_id"])
    assert second.drift_sensor == "nothing new to launch"
    from roadmark_pipeline.release.tuf_repo import TufRepository

    tuf = Path(first.release["tuf_repo"])
    channels = TufRepository(tuf, tuf.parent / "keys").channels()
    assert channels == {"stable": first.release["version"], "canary": first.release["version"]}
