"""Training assets: the dataset version, the overfit sanity check and the trained detector."""

import json
from pathlib import Path

import dagster as dg
import pandas as pd

from assets.resources import LakeResource
from assets.settings import TrainSettings
from roadmark_pipeline import lake as lake_io
from roadmark_pipeline.frames import concat_partitions, labelled_frames
from roadmark_pipeline.model.dataset import SplitConfig, split_frames, write_yolo_dataset
from roadmark_pipeline.model.offline import configure_ultralytics
from roadmark_pipeline.model_flow import overfit_or_reuse, train_or_reuse
from roadmark_pipeline.settings import roadmark_home
from roadmark_pipeline.taxonomy import class_names


class DatasetConfig(dg.Config):
    """How the labelled frames are split.

    Attributes:
        test_share: Share of frames (whole drives) held out for testing.
        val_share: Share of frames (whole drives) held out for validation during training.
        seed: Seed of the split.
        stratify_columns: Slice columns balanced across splits like class presence.
    """

    test_share: float = 0.25
    val_share: float = 0.0
    seed: int = 0
    stratify_columns: list[str] = ["camera_model"]


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
        SplitConfig(
            test_share=config.test_share,
            val_share=config.val_share,
            seed=config.seed,
            stratify_columns=tuple(config.stratify_columns),
        ),
    )
    frames = frames.assign(split=frames["frame_id"].map(split.assignment))

    lake.mirror("frames")

    with lake.workspace("datasets", pull=False) as datasets_dir:
        info = write_yolo_dataset(
            frames,
            consensus_labels,
            split.assignment,
            class_names(),
            datasets_dir,
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


class OverfitConfig(dg.Config):
    """The sanity check every training setup passes before its results are trusted.

    Attributes:
        frames: Size of the tiny batch the setup must memorise.
        target_map50: The bar for "near-perfect" on those same frames.
    """

    frames: int = 8
    target_map50: float = 0.9


@dg.asset_check(asset=dataset_version, blocking=True)
def training_setup_can_overfit(
    context: dg.AssetCheckExecutionContext,
    config: OverfitConfig,
    lake: LakeResource,
    dataset_version: dict,
) -> dg.AssetCheckResult:
    """The training setup memorises a tiny batch of this dataset, or training must not start."""
    frames, boxes = lake.dataset_tables(dataset_version)
    configure_ultralytics(roadmark_home() / "ultralytics")
    with lake.workspace("work", "overfit") as work_dir:
        result = overfit_or_reuse(
            frames,
            boxes,
            work_dir,
            n_frames=config.frames,
            target=config.target_map50,
        )

    context.log.info(result.reason)
    return dg.AssetCheckResult(
        passed=result.passed,
        description=result.reason,
        metadata={
            "map50_on_memorised_frames": float(result.map50),
            "target": result.target_map50,
            "frames": len(result.frame_ids),
            "epochs": result.epochs_run,
            "wall_s": float(result.wall_s),
            "per_class": json.dumps({k: round(v, 3) for k, v in result.per_class_ap50.items()}),
        },
    )


class TrainingConfig(TrainSettings):
    """Training settings, and whether an identical earlier training may be reused.

    Attributes:
        reuse: Reuse a detector already trained on the same dataset version with the same
            settings instead of training again.
    """

    reuse: bool = True


@dg.asset(io_manager_key="json_io_manager", group_name="training", kinds={"pytorch", "yolo"})
def trained_detector(
    context: dg.AssetExecutionContext,
    config: TrainingConfig,
    lake: LakeResource,
    dataset_version: dict,
) -> dict:
    """A YOLO detector trained on one dataset version, and how it was trained.

    Weights path, initialisation (scratch or a local weights file), device, settings and
    validation metrics. The augmentation policy is declared in the settings.
    """
    settings = config.to_train_config()
    configure_ultralytics(roadmark_home() / "ultralytics")
    lake.ensure(dataset_version["root"])
    with lake.workspace("models") as models_dir:
        record, reused = train_or_reuse(
            Path(dataset_version["data_yaml"]),
            dataset_version["version"],
            settings,
            models_dir,
            reuse=config.reuse,
        )

    context.log.info(
        f"{'reused' if reused else 'trained'} detector {record['model_id']} on "
        f"{record['device']} ({record['init']}, {record['wall_s']:.0f} s)"
    )
    context.add_output_metadata(
        {
            "model_id": record["model_id"],
            "init": record["init"],
            "device": record["device"],
            "epochs": record["epochs_run"],
            "train_wall_s": float(record["wall_s"]),
            "reused": reused,
            "augmentation": json.dumps(settings.augmentation_policy()),
        }
    )
    return record
