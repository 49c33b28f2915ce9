"""The steps of ``roadmark demo``, each one a Dagster run (or the device, which is not Dagster)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

from roadmark_pipeline.settings import roadmark_home

if TYPE_CHECKING:
    from roadmark_pipeline.demo import DemoOptions, DemoSummary

LOG = logging.getLogger(__name__)

DEMO_ANNOTATOR = "silver.annotator@roadmark.local"
DEMO_DEVICE = "demo-jetson-01"
DEMO_CAMERA = "udacity-dashcam"


class DemoStepError(RuntimeError):
    """A demo step's Dagster run failed; the message names the run to open in the UI."""


@dataclass
class DemoContext:
    """The instance and code location the demo's runs go to."""

    instance: dg.DagsterInstance
    defs: dg.Definitions

    @classmethod
    def create(cls) -> DemoContext:
        """Open the instance under ``$DAGSTER_HOME`` and load the code location."""
        from roadmark_pipeline.definitions import defs

        return cls(instance=dg.DagsterInstance.get(), defs=defs)

    def run(
        self,
        job: str,
        *,
        run_config: dict | None = None,
        partition_key: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> dg.ExecuteInProcessResult:
        """Execute one job in-process against the instance; a failure raises with the run id."""
        result = self.defs.resolve_job_def(job).execute_in_process(
            instance=self.instance,
            run_config=run_config or {},
            partition_key=partition_key,
            tags={"roadmark/origin": "demo", **(tags or {})},
            raise_on_error=False,
        )
        if not result.success:
            raise DemoStepError(f"{job} failed (run {result.run_id}); open it in `make dev`")
        LOG.info("%s succeeded (run %s)", job, result.run_id[:8])
        return result

    def latest(self, asset: str, partition: str | None = None) -> Any:
        """Load the latest stored value of an asset through its IO manager."""
        return self.defs.load_asset_value(asset, instance=self.instance, partition_key=partition)


def tick_and_launch(
    context: DemoContext,
    sensor: dg.SensorDefinition,
    resources: dict[str, Any],
    job: str,
    run_config: dict | None = None,
) -> list[str]:
    """Evaluate one sensor tick as the daemon would and run what it requests, in-process.

    Dynamic partitions it asks for are added; a request whose run key already has a successful
    run is skipped (the daemon does the same), so a second demo launches nothing twice.

    Returns:
        The run ids launched.
    """
    with dg.build_sensor_context(
        instance=context.instance,
        resources=resources,
        sensor_name=sensor.name,
    ) as sensor_context:
        result = sensor(sensor_context)
    if isinstance(result, dg.SkipReason):
        LOG.info("%s: skipped (%s)", sensor.name, result.skip_message)
        return []
    for request in result.dynamic_partitions_requests or []:
        context.instance.add_dynamic_partitions(
            request.partitions_def_name, list(request.partition_keys)
        )

    launched = []
    for request in result.run_requests or []:
        done = context.instance.get_runs(
            filters=dg.RunsFilter(
                tags={"dagster/run_key": request.run_key}, statuses=[dg.DagsterRunStatus.SUCCESS]
            )
        )
        if request.run_key and done:
            continue
        run = context.run(
            job,
            run_config=run_config,
            partition_key=request.partition_key,
            tags={"dagster/run_key": request.run_key or ""},
        )
        launched.append(run.run_id)
    LOG.info(
        "%s: %d runs requested, %d launched",
        sensor.name,
        len(result.run_requests or []),
        len(launched),
    )
    return launched


def ingest_landed(context: DemoContext, options: DemoOptions, summary: DemoSummary) -> int:
    """Tick the landing sensor once and run the ingest runs it requests."""
    from assets.resources import LakeResource, LandingZoneResource
    from sensors.landing import make_landing_sensor

    # Files were copied into the landing zone a moment ago: no settle time in the demo.
    sensor = make_landing_sensor(name="landing_sensor", settle_s=0.0)
    resources = {"landing": LandingZoneResource(), "lake": LakeResource()}
    config = {"ops": {"sampled_frames": {"config": {"every_n": options.every_n}}}}
    runs = tick_and_launch(context, sensor, resources, "ingest_job", config)
    summary.runs.update({f"ingest {i}": run for i, run in enumerate(runs)})
    return len(runs)


def send_to_labeling(context: DemoContext, summary: DemoSummary) -> str:
    """Import the sampled frames into Label Studio as tasks; returns the project's URL."""
    run = context.run("send_to_labeling_job")
    summary.runs["send_to_labeling"] = run.run_id
    url = run.asset_materializations_for_node("labeling_tasks")[0].metadata["label_studio"].value
    return str(url)


def simulated_annotator(context: DemoContext, options: DemoOptions) -> int:
    """Submit the shipped silver labels through the Label Studio API, as an annotator would.

    Frames this annotator already labelled are skipped, so a second demo adds nothing.
    """
    from assets.resources import LabelStudioResource, LakeResource
    from roadmark_pipeline.shipped import shipped_boxes
    from roadmark_pipeline.taxonomy import class_names

    lake_root = LakeResource().local_path()
    project = LabelStudioResource().project(lake_root, class_names())
    boxes = shipped_boxes(options.data_dir)
    tasks = project.task_ids_by_frame()
    done = project.annotated_frame_ids(DEMO_ANNOTATOR)

    todo = [
        frame
        for frame in sorted(boxes["frame_id"].unique())
        if frame in tasks and frame not in done
    ]
    for frame in todo:
        project.submit_annotation(
            frame, boxes[boxes["frame_id"] == frame], annotator=DEMO_ANNOTATOR
        )
    missing = set(boxes["frame_id"]) - set(tasks)
    LOG.info(
        "simulated annotator: %d frames submitted, %d already done, %d labelled frames "
        "have no task",
        len(todo),
        len(done),
        len(missing),
    )
    return len(todo)


def pull_annotations(context: DemoContext, options: DemoOptions, summary: DemoSummary) -> None:
    """Tick the annotation sensor: new annotations start consensus and the label-error search."""
    from assets.resources import LabelStudioResource, LakeResource
    from sensors.annotations import annotation_sensor

    config = {
        "ops": {
            "label_issues": {
                "config": {
                    "folds": options.folds,
                    "training": {"epochs": options.fold_epochs, "imgsz": options.fold_imgsz},
                }
            }
        }
    }
    resources = {"label_studio": LabelStudioResource(), "lake": LakeResource()}
    runs = tick_and_launch(context, annotation_sensor, resources, "pull_annotations_job", config)
    if runs:
        summary.runs["pull_annotations"] = runs[0]


def demo_training(options: DemoOptions) -> dict[str, Any]:
    """The detector's run config: the model room's measured CPU settings, epochs and size ours."""
    from dataclasses import asdict

    from assets.settings import TrainSettings
    from roadmark_pipeline.model.workflow import DEMO_TRAIN_CONFIG

    settings = {name: asdict(DEMO_TRAIN_CONFIG)[name] for name in TrainSettings.model_fields}
    return settings | {"epochs": options.epochs, "imgsz": options.imgsz}


def retrain_and_release(context: DemoContext, options: DemoOptions, summary: DemoSummary) -> None:
    """Split, train, evaluate, export (parity-checked) and publish the release."""
    config = {"ops": {"trained_detector": {"config": demo_training(options)}}}
    run = context.run("retrain_release_job", run_config=config)
    summary.runs["retrain_release"] = run.run_id

    summary.evaluation = context.latest("detector_evaluation")
    summary.release = context.latest("ota_release")
    for check in run.get_asset_check_evaluations():
        summary.checks[check.check_name] = (bool(check.passed), check.description or "")
        if check.check_name == "onnx_matches_pytorch":
            summary.parity = {"passed": check.passed} | {
                key: value.value for key, value in check.metadata.items()
            }


def device_update_and_run(context: DemoContext, options: DemoOptions, summary: DemoSummary) -> None:
    """Serve the TUF repository on 127.0.0.1; the device updates from it and runs the clips."""
    from assets.resources import LakeResource
    from roadmark_pipeline.ids import sha256_file
    from roadmark_pipeline.localserve import StaticServer
    from roadmark_pipeline.shipped import shipped_sources

    release = summary.release
    device_dir = roadmark_home() / "devices" / DEMO_DEVICE
    inbox = LakeResource().local_path("fleet", "inbox")
    with StaticServer(Path(release["tuf_repo"])) as server:
        _edge(
            "update",
            "--repo",
            server.url,
            "--device-dir",
            str(device_dir),
            "--channel",
            release["channel"],
            "--trusted-root",
            release["trusted_root"],
        )
    for clip in [p for p in shipped_sources(options.data_dir) if p.suffix == ".mp4"]:
        # The demo replays the same clips: a device that already ran this release on a clip
        # is not made to run it again, so a second demo adds no copy of the same drive.
        done = device_dir / "demo-runs" / f"{release['version']}-{sha256_file(clip)[:16]}.done"
        if done.exists():
            LOG.info("device already ran release %s on %s; skipped", release["version"], clip.name)
            continue
        _edge(
            "run",
            "--device-dir",
            str(device_dir),
            "--source",
            str(clip),
            "--every-n",
            str(options.edge_every_n),
            "--inbox",
            str(inbox),
            "--device-id",
            DEMO_DEVICE,
            "--camera-model",
            DEMO_CAMERA,
        )
        done.parent.mkdir(parents=True, exist_ok=True)
        done.touch()
    summary.runs["device"] = str(device_dir)


def _edge(*args: str) -> None:
    command = [sys.executable, "-m", "jetson_runtime.cli", *args]
    LOG.info("device: roadmark-edge %s", " ".join(args[:1]))
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise DemoStepError(f"roadmark-edge {args[0]} failed: {completed.stderr.strip()[-800:]}")


def monitor(context: DemoContext, day: dt.date, summary: DemoSummary) -> None:
    """Collect today's telemetry, check it for drift, and tick the drift sensor once."""
    from sensors.drift import drift_sensor

    run = context.run("drift_job", partition_key=day.isoformat())
    summary.runs["drift"] = run.run_id
    summary.drift = context.latest("drift_report", day.isoformat())

    with dg.build_sensor_context(
        instance=context.instance, definitions=context.defs, sensor_name="drift_sensor"
    ) as sensor_context:
        tick = drift_sensor.evaluate_tick(sensor_context)
    keys = [request.run_key for request in tick.run_requests]
    summary.drift_sensor = f"requested {json.dumps(keys)}" if keys else f"{tick.skip_message}"
