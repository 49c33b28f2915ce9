"""The steps of ``roadmark demo``, each one a Dagster run (or the device, which is not Dagster)."""

from __future__ import annotations

import datetime as dt
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
QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
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
            # Step events at DEBUG would bury the demo's story; the UI keeps them all.
            run_config=merge_config(QUIET, run_config or {}),
            partition_key=partition_key,
            tags={"roadmark/origin": "demo", **(tags or {})},
            raise_on_error=False,
        )
        if not result.success:
            raise DemoStepError(
                f"{job} failed: {_failure(result)} (run {result.run_id[:8]}; `make dev` shows it)"
            )
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
    result = _tick(context, sensor, resources)
    if not result.run_requests and not result.dynamic_partitions_requests:
        LOG.info(
            "%s: nothing requested (%s)",
            sensor.name,
            result.skip_reason.skip_message if result.skip_reason else "no news",
        )
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
            request.job_name or job,
            # The base config is the default job's; other jobs get only their request's.
            run_config=merge_config(
                (run_config or {}) if request.job_name in (None, job) else {},
                request.run_config or {},
            ),
            partition_key=request.partition_key,
            # The daemon recognises a sensor's own runs by these two tags: once sensors are
            # turned on in `make dev`, it will not launch again what the demo already ran.
            tags={"dagster/run_key": request.run_key or "", "dagster/sensor_name": sensor.name},
        )
        launched.append(run.run_id)
    LOG.info(
        "%s: %d runs requested, %d launched",
        sensor.name,
        len(result.run_requests or []),
        len(launched),
    )
    return launched


def _tick(
    context: DemoContext, sensor: dg.SensorDefinition, resources: dict[str, Any]
) -> dg.SensorResult:
    """Return one tick's result, as the daemon would see it.

    Asset sensors go through ``evaluate_tick`` (it needs the definitions to resolve their
    partitioned requests); the others are invoked directly, since the daemon adds their new
    dynamic partitions before it validates their requests.
    """
    with dg.build_sensor_context(
        instance=context.instance,
        resources=resources,
        sensor_name=sensor.name,
        definitions=context.defs if isinstance(sensor, dg.AssetSensorDefinition) else None,
    ) as sensor_context:
        if isinstance(sensor, dg.AssetSensorDefinition):
            data = sensor.evaluate_tick(sensor_context)
            return dg.SensorResult(run_requests=data.run_requests, skip_reason=data.skip_message)
        result = sensor(sensor_context)
    if isinstance(result, dg.SkipReason):
        return dg.SensorResult(skip_reason=result.skip_message)
    return result


def _failure(result: dg.ExecuteInProcessResult) -> str:
    """The first failed step and the last line of its error (the user's part of the story)."""
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data.error is not None:
            error = event.step_failure_data.error
            while error.cause is not None and "Error occurred while" in error.message:
                error = error.cause
            message = error.message.strip().splitlines()[-1] if error.message.strip() else "?"
            return f"step {event.step_key}: {message}"
    return "see the run's events"


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


def demo_training_config(options: DemoOptions) -> dict[str, Any]:
    """The retrain job's run config with the demo's training settings."""
    return {"ops": {"trained_detector": {"config": demo_training(options)}}}


def merge_config(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Merge two run configs, the override winning key by key at every depth."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_config(merged[key], value)
        else:
            merged[key] = value
    return merged


def retrain_and_release(context: DemoContext, options: DemoOptions, summary: DemoSummary) -> None:
    """Split, train, evaluate, export (parity-checked) and publish the release."""
    run = context.run("retrain_release_job", run_config=demo_training_config(options))
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
    """The demo device updates from the TUF repository and drives the shipped clips."""
    from roadmark_pipeline.shipped import shipped_sources

    clips = [path for path in shipped_sources(options.data_dir) if path.suffix == ".mp4"]
    summary.runs["device"] = str(
        device_drives(summary.release, DEMO_DEVICE, DEMO_CAMERA, clips, options.edge_every_n)
    )


def device_drives(
    release: dict[str, Any], device: str, camera: str, clips: list[Path], every_n: int
) -> Path:
    """A device updates over HTTP from the TUF repository, then runs each clip once.

    A device that already ran this release on a clip is not made to run it again, so a second
    demo adds no copy of the same drive to the fleet's telemetry.

    Returns:
        The device's folder.
    """
    from assets.resources import LakeResource
    from roadmark_pipeline.ids import sha256_file
    from roadmark_pipeline.localserve import StaticServer

    device_dir = roadmark_home() / "devices" / device
    lake = LakeResource()
    with StaticServer(lake.ensure(release["tuf_repo"])) as server:
        _edge(
            "update",
            "--repo",
            server.url,
            "--device-dir",
            str(device_dir),
            "--channel",
            release["channel"],
            "--trusted-root",
            str(lake.ensure(release["trusted_root"])),
        )
    # A device uploads its telemetry batches to the fleet inbox (pushed to a remote lake).
    with lake.workspace("fleet", "inbox", pull=False) as inbox:
        for clip in clips:
            done = device_dir / "demo-runs" / f"{release['version']}-{sha256_file(clip)[:16]}.done"
            if done.exists():
                LOG.info(
                    "%s already ran release %s on %s; skipped",
                    device,
                    release["version"],
                    clip.name,
                )
                continue
            _edge(
                "run",
                "--device-dir",
                str(device_dir),
                "--source",
                str(clip),
                "--every-n",
                str(every_n),
                "--inbox",
                str(inbox),
                "--device-id",
                device,
                "--camera-model",
                camera,
            )
            done.parent.mkdir(parents=True, exist_ok=True)
            done.touch()
    return device_dir


def _edge(*args: str) -> None:
    command = [sys.executable, "-m", "jetson_runtime.cli", *args]
    LOG.info("device: roadmark-edge %s", " ".join(args[:1]))
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise DemoStepError(f"roadmark-edge {args[0]} failed: {completed.stderr.strip()[-800:]}")


def monitor(context: DemoContext, day: dt.date, summary: DemoSummary, options: DemoOptions) -> None:
    """Collect the day's telemetry, check it for drift, and tick the drift sensor once."""
    from sensors.drift import drift_sensor

    drift_config = {"ops": {"drift_report": {"config": {"min_samples": options.drift_min_samples}}}}
    run = context.run("drift_job", partition_key=day.isoformat(), run_config=drift_config)
    summary.runs[f"drift {len(summary.runs)}"] = run.run_id
    summary.drift = context.latest("drift_report", day.isoformat())

    launched = tick_and_launch(
        context, drift_sensor, {}, "retrain_release_job", demo_training_config(options)
    )
    summary.runs.update({f"after drift {i}": run_id for i, run_id in enumerate(launched)})
    summary.drift_sensor = (
        f"{len(launched)} runs launched (relabel queue, retrain to canary)"
        if launched
        else "nothing new to launch"
        if summary.drift.get("flagged")
        else "no drift: no runs"
    )
