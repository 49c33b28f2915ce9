"""Release assets: the ONNX export (gated by parity) and the signed OTA release."""

import json
from pathlib import Path

import dagster as dg

from assets.resources import LakeResource
from roadmark_pipeline.ids import sha256_file
from roadmark_pipeline.model.evaluation import Evaluation
from roadmark_pipeline.model.export import export_onnx, onnx_parity
from roadmark_pipeline.model.gate import GateDecision
from roadmark_pipeline.model.offline import configure_ultralytics
from roadmark_pipeline.model.registry import ModelRegistry
from roadmark_pipeline.model_flow import promote_if_new
from roadmark_pipeline.release_flow import ReleaseRequest, publish_release
from roadmark_pipeline.settings import roadmark_home


class ExportConfig(dg.Config):
    """ONNX export settings.

    Attributes:
        imgsz: Fixed input size of the exported model; 0 means the training size.
        opset: ONNX opset, fixed so devices know what they get.
        reuse: Keep an existing export of the same weights, size and opset.
    """

    imgsz: int = 0
    opset: int = 18
    reuse: bool = True


@dg.asset(io_manager_key="json_io_manager", group_name="release", kinds={"onnx"})
def onnx_model(
    context: dg.AssetExecutionContext,
    config: ExportConfig,
    lake: LakeResource,
    trained_detector: dict,
) -> dict:
    """The detector as an ONNX file with a fixed opset and input size, and its sha256."""
    imgsz = config.imgsz or int(trained_detector["settings"]["imgsz"])
    name = f"model-{imgsz}px-opset{config.opset}.onnx"
    weights = lake.ensure(trained_detector["weights"])

    # An export embeds its date, so exporting the same weights again would make a new file
    # (and a new release) from an unchanged model: one export per model, size and opset.
    with lake.workspace("models", trained_detector["model_id"]) as model_dir:
        out_path = model_dir / name
        if config.reuse and out_path.exists():
            context.log.info(f"reusing {name}: exported before from the same weights")
        else:
            configure_ultralytics(roadmark_home() / "ultralytics")
            export_onnx(weights, out_path, imgsz=imgsz, opset=config.opset)
            context.log.info(f"exported {name} (opset {config.opset}, {imgsz} px)")
    digest = sha256_file(out_path)

    context.add_output_metadata(
        {
            "imgsz": imgsz,
            "opset": config.opset,
            "sha256": digest[:16],
            "size_mb": out_path.stat().st_size / 1e6,
        }
    )
    return {
        "model_id": trained_detector["model_id"],
        "onnx_path": str(out_path),
        "imgsz": imgsz,
        "opset": config.opset,
        "sha256": digest,
        "weights": trained_detector["weights"],
    }


PARITY_FRAMES = 8


@dg.asset_check(
    asset=onnx_model,
    blocking=True,
    additional_ins={"dataset_version": dg.AssetIn()},
)
def onnx_matches_pytorch(
    lake: LakeResource, onnx_model: dict, dataset_version: dict
) -> dg.AssetCheckResult:
    """ONNX Runtime gives the PyTorch model's boxes and scores on test frames."""
    frames, _ = lake.dataset_tables(dataset_version)
    test = frames[frames["split"] == "test"]
    probe = (test if len(test) else frames).head(PARITY_FRAMES)

    configure_ultralytics(roadmark_home() / "ultralytics")
    report = onnx_parity(
        lake.ensure(onnx_model["weights"]),
        lake.ensure(onnx_model["onnx_path"]),
        [Path(path) for path in probe["path"]],
        imgsz=onnx_model["imgsz"],
    )
    figures = report.to_dict()
    return dg.AssetCheckResult(
        passed=bool(report.passed),
        metadata={
            key: value
            for key, value in figures.items()
            if isinstance(value, (int, float, str, bool))
        },
        description=json.dumps(figures, default=str)[:500],
    )


class ReleaseConfig(dg.Config):
    """Where and how a release is published.

    Attributes:
        channel: TUF channel the release goes to (``stable`` or ``canary``). A stable release
            also moves the production pointer of the model registry.
        probe_frames: Test frames shipped for the device's health check.
    """

    channel: str = "stable"
    probe_frames: int = 3


@dg.asset(io_manager_key="json_io_manager", group_name="release", kinds={"tuf"})
def ota_release(
    context: dg.AssetExecutionContext,
    config: ReleaseConfig,
    lake: LakeResource,
    onnx_model: dict,
    detector_evaluation: dict,
    dataset_version: dict,
) -> dict:
    """The OTA release a Jetson pulls: runtime wheel, model, config, probe frames, manifest.

    Published as targets of a signed TUF repository, in one channel; a stable release becomes
    the production model in the registry (pointer moved atomically, history kept).
    """
    frames, _ = lake.dataset_tables(dataset_version)
    lake.ensure(onnx_model["onnx_path"])
    test = frames[frames["split"] == "test"]
    request = ReleaseRequest(
        onnx_path=onnx_model["onnx_path"],
        imgsz=onnx_model["imgsz"],
        thresholds=detector_evaluation["runtime_thresholds"],
        probe_images=list((test if len(test) else frames)["path"].head(config.probe_frames)),
        lineage={
            "dataset_version": dataset_version["version"],
            "model_id": onnx_model["model_id"],
            "onnx_sha256": onnx_model["sha256"],
            "dagster_run_id": context.run.run_id,
        },
        channel=config.channel,
    )
    with lake.workspace("releases") as releases, lake.workspace("tuf") as tuf:
        record = publish_release(request, releases, tuf)
    if config.channel == "stable":
        record["production"] = _promote(lake, onnx_model, detector_evaluation)

    context.log.info(
        f"release {record['version']} on channel {config.channel} "
        f"({'new' if record['new'] else 'already published'})"
    )
    context.add_output_metadata(
        {
            "version": record["version"],
            "channel": config.channel,
            "new": record["new"],
            "tuf_repository": record["tuf_repo"],
            "production": record.get("production", "unchanged (canary)"),
        }
    )
    return record


def _promote(lake: LakeResource, onnx_model: dict, evaluation: dict) -> str:
    """Point production at the released model (the gate check already passed)."""
    decision = GateDecision(
        True, ["released to stable after the gate passed"], evaluation["map50"], None
    )
    with lake.workspace("registry") as registry_dir:
        entry, moved = promote_if_new(
            ModelRegistry(registry_dir),
            lake.ensure(onnx_model["weights"]),
            Evaluation.from_dict(evaluation["evaluation"]),
            decision,
            onnx=lake.ensure(onnx_model["onnx_path"]),
            model_id=onnx_model["model_id"],
        )
    return f"{entry.model_id} ({'moved' if moved else 'already production'})"
