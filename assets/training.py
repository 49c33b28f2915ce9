"""Training assets: the dataset version, the trained detector and its evaluation."""

import hashlib
import json
from pathlib import Path

import dagster as dg
import pandas as pd

from assets.resources import LakeResource
from roadmark_pipeline import lake as lake_io
from roadmark_pipeline.frames import concat_partitions, labelled_frames
from roadmark_pipeline.model.dataset import SplitConfig, split_frames, write_yolo_dataset
from roadmark_pipeline.model.evaluation import evaluate_detections
from roadmark_pipeline.model.offline import configure_ultralytics
from roadmark_pipeline.model.predict import predict_frames
from roadmark_pipeline.model.training import TrainConfig, train_detector
from roadmark_pipeline.settings import roadmark_home
from roadmark_pipeline.taxonomy import class_names


class DatasetConfig(dg.Config):
    """How the labelled frames are split.

    Attributes:
        test_share: Share of frames (whole drives) held out for testing.
        val_share: Share of frames (whole drives) held out for validation during training.
        seed: Seed of the split.
    """

    test_share: float = 0.25
    val_share: float = 0.0
    seed: int = 0


@dg.asset(
    io_manager_key="json_io_manager",
    group_name="training",
    kinds={"yolo"},
    ins={"sampled_frames": dg.AssetIn(metadata={"allow_missing_partitions": True})},
)
def dataset_version(
    context: dg.AssetExecutionContext,
    config: DatasetConfig,
    lake: LakeResource,
    sampled_frames: dict[str, pd.DataFrame],
    consensus_labels: pd.DataFrame,
    annotation_tasks: pd.DataFrame,
    label_issues: pd.DataFrame,
) -> dict:
    """An immutable, content-hashed YOLO dataset of the labelled frames, split by drive.

    No drive is on both sides; the split is stratified by class; counts per class per split
    come with it.
    """
    frames = labelled_frames(concat_partitions(sampled_frames), annotation_tasks)
    split = split_frames(
        frames,
        consensus_labels,
        class_names(),
        SplitConfig(test_share=config.test_share, val_share=config.val_share, seed=config.seed),
    )
    frames = frames.assign(split=frames["frame_id"].map(split.assignment))

    info = write_yolo_dataset(
        frames,
        consensus_labels,
        split.assignment,
        class_names(),
        lake.local_path("datasets"),
        warnings=split.warnings,
    )
    record = _dataset_record(info, frames, consensus_labels, label_issues)

    for warning in split.warnings:
        context.log.warning(warning)
    context.log.info(f"dataset {info.version}: {info.n_frames} frames per split")
    context.add_output_metadata(
        {
            "version": info.version,
            "frames_per_split": json.dumps(info.n_frames),
            "data_card": dg.MetadataValue.md(info.card.to_markdown()),
            "split_warnings": "\n".join(split.warnings) or "none",
            "counts": dg.MetadataValue.md(info.counts.to_markdown()),
            "label_issues_flagged": int(label_issues["is_issue"].sum()),
        }
    )
    return record


def _dataset_record(info, frames, boxes, issues) -> dict:
    """Store the version's frame, box and label-issue tables beside it and describe it."""
    tables = {
        "frames_table": (info.root / "frames.parquet", frames),
        "boxes_table": (
            info.root / "boxes.parquet",
            boxes[boxes["frame_id"].isin(frames["frame_id"])],
        ),
        "label_issues_table": (info.root / "label_issues.parquet", issues),
    }
    for path, table in tables.values():
        if not path.exists():  # a version is immutable: its tables are written once
            lake_io.write_parquet_atomic(path, table)
    return {
        "version": info.version,
        "root": str(info.root),
        "data_yaml": str(info.data_yaml),
        "frames_per_split": info.n_frames,
        "class_names": list(class_names()),
        "warnings": list(info.warnings),
    } | {name: str(path) for name, (path, _) in tables.items()}


class TrainingConfig(dg.Config):
    """Training settings (see ``roadmark_pipeline.model.training.TrainConfig``).

    Attributes:
        model: Architecture yaml used when no weights file is given (random init).
        weights: A local ``.pt`` file to fine-tune from; absent files fall back loudly.
        imgsz: Training image size.
        epochs: Training epochs.
        batch: Batch size.
        seed: Training seed.
        fliplr: Horizontal-flip probability; 0 by default because mirrored scenes are not real
            scenes under left- or right-hand traffic rules.
        reuse: Reuse a detector already trained on the same dataset version with the same
            settings instead of training again.
    """

    model: str = "yolo11n.yaml"
    weights: str | None = None
    imgsz: int = 640
    epochs: int = 25
    batch: int = 8
    seed: int = 0
    fliplr: float = 0.0
    reuse: bool = True


@dg.asset(io_manager_key="json_io_manager", group_name="training", kinds={"pytorch", "yolo"})
def trained_detector(
    context: dg.AssetExecutionContext,
    config: TrainingConfig,
    lake: LakeResource,
    dataset_version: dict,
) -> dict:
    """A YOLO detector trained on one dataset version, and how it was trained.

    Weights path, initialisation, device, settings and validation metrics.
    """
    settings = config.model_dump(exclude={"reuse"})
    model_id = hashlib.sha256(
        json.dumps({"dataset": dataset_version["version"], **settings}, sort_keys=True).encode()
    ).hexdigest()[:16]
    model_dir = lake.local_path("models", model_id)
    record_path = model_dir / "record.json"

    if config.reuse and record_path.exists():
        record = json.loads(record_path.read_text())
        context.log.info(f"reusing detector {model_id}: same dataset version and settings")
    else:
        configure_ultralytics(roadmark_home() / "ultralytics")
        result = train_detector(
            Path(dataset_version["data_yaml"]), TrainConfig(**settings), model_dir
        )
        record = {
            "model_id": model_id,
            "dataset_version": dataset_version["version"],
            "weights": str(result.weights),
            "init": result.init,
            "device": result.device,
            "epochs_run": result.epochs_run,
            "wall_s": result.wall_s,
            "val_metrics": result.metrics,
            "settings": settings,
        }
        lake_io.write_json_atomic(record_path, record)
        context.log.info(
            f"trained {model_id} on {result.device} in {result.wall_s:.0f} s ({result.init})"
        )

    context.add_output_metadata(
        {
            "model_id": model_id,
            "init": record["init"],
            "device": record["device"],
            "epochs": record["epochs_run"],
            "train_wall_s": float(record["wall_s"]),
        }
    )
    return record


class EvaluationConfig(dg.Config):
    """Prediction settings of the evaluation.

    Attributes:
        conf: Lowest score kept from the model (the AP table filters further per threshold).
        iou: NMS IoU threshold.
    """

    conf: float = 0.001
    iou: float = 0.6


@dg.asset(io_manager_key="json_io_manager", group_name="training", kinds={"pandas"})
def detector_evaluation(
    context: dg.AssetExecutionContext,
    config: EvaluationConfig,
    lake: LakeResource,
    trained_detector: dict,
    dataset_version: dict,
) -> dict:
    """Test-set evaluation of the trained detector: per-class AP by score threshold, mAPs.

    One row per class-score threshold (0.005 to 0.5), one column per class, plus mAP50 and
    mAP50-95.
    """
    frames = lake_io.read_parquet(lake_io.as_path(dataset_version["frames_table"]))
    boxes = lake_io.read_parquet(lake_io.as_path(dataset_version["boxes_table"]))
    test = frames[frames["split"] == "test"]
    truth = boxes[boxes["frame_id"].isin(test["frame_id"])]

    configure_ultralytics(roadmark_home() / "ultralytics")
    predictions = predict_frames(
        Path(trained_detector["weights"]),
        test,
        imgsz=trained_detector["settings"]["imgsz"],
        conf=config.conf,
        iou=config.iou,
    )
    evaluation = evaluate_detections(truth, predictions, test, class_names())

    predictions_path = lake.path("models", trained_detector["model_id"], "test_predictions.parquet")
    lake_io.write_parquet_atomic(predictions_path, predictions)
    table = evaluation.ap_table
    context.log.info(
        f"mAP50 {evaluation.map50:.3f}, mAP50-95 {evaluation.map50_95:.3f} "
        f"on {len(test)} test frames"
    )
    context.add_output_metadata(
        {
            "mAP50": float(evaluation.map50),
            "mAP50_95": float(evaluation.map50_95),
            "test_frames": len(test),
            "ap_by_threshold": dg.MetadataValue.md(table.to_markdown(floatfmt=".3f")),
        }
    )
    return {
        "model_id": trained_detector["model_id"],
        "dataset_version": dataset_version["version"],
        "map50": float(evaluation.map50),
        "map50_95": float(evaluation.map50_95),
        "ap_table": json.loads(table.to_json(orient="split")),
        "per_class": json.loads(
            evaluation.per_class.rename_axis("class_name").reset_index().to_json(orient="records")
        ),
        "test_predictions": str(predictions_path),
        "test_frames": int(len(test)),
    }
