"""Labeling assets: tasks in Label Studio, the annotations pulled back, and label errors."""

import dagster as dg
import pandas as pd

from assets.resources import LabelStudioResource, LakeResource
from roadmark_pipeline import lake as lake_io
from roadmark_pipeline.frames import concat_partitions, labelled_frames, table_digest
from roadmark_pipeline.labeling.convert import parse_export
from roadmark_pipeline.model.label_quality import cross_val_predictions, find_label_issues
from roadmark_pipeline.model.offline import configure_ultralytics
from roadmark_pipeline.model.training import TrainConfig
from roadmark_pipeline.settings import roadmark_home
from roadmark_pipeline.taxonomy import class_names


@dg.asset(
    io_manager_key="parquet_io_manager",
    group_name="labeling",
    kinds={"labelstudio", "parquet"},
    ins={"sampled_frames": dg.AssetIn(metadata={"allow_missing_partitions": True})},
)
def labeling_tasks(
    context: dg.AssetExecutionContext,
    lake: LakeResource,
    label_studio: LabelStudioResource,
    sampled_frames: dict[str, pd.DataFrame],
) -> pd.DataFrame:
    """Label Studio tasks, one per usable sampled frame: frame id, task id and project."""
    frames = concat_partitions(sampled_frames)
    usable = frames[frames["usable"]] if len(frames) else frames
    project = label_studio.project(lake.local_path(), class_names())

    new = project.import_frames(usable)
    task_ids = project.task_ids_by_frame()
    tasks = pd.DataFrame({"frame_id": list(task_ids), "task_id": list(task_ids.values())})
    tasks["project_id"] = project.id

    context.log.info(
        f"{new} new tasks imported; the project holds {len(tasks)} tasks for "
        f"{len(usable)} usable frames ({len(frames) - len(usable)} unusable left out)"
    )
    context.add_output_metadata(
        {
            "new_tasks": new,
            "tasks": len(tasks),
            "unusable_frames_left_out": len(frames) - len(usable),
            "label_studio": dg.MetadataValue.url(f"{project.url}/projects/{project.id}/data"),
        }
    )
    return tasks


@dg.multi_asset(
    outs={
        "annotations": dg.AssetOut(
            io_manager_key="parquet_io_manager",
            kinds={"labelstudio", "parquet"},
            description="Boxes pulled back from Label Studio's export, one row per box per "
            "annotator.\n\nPixels of the upright frame; class ids from our taxonomy.",
        ),
        "annotation_tasks": dg.AssetOut(
            io_manager_key="parquet_io_manager",
            kinds={"parquet"},
            description="Status of every labeling task, with its number of annotations.\n\n"
            "One of labelled, reviewed_empty, unannotated or cancelled.",
        ),
    },
    group_name="labeling",
    deps=["labeling_tasks"],
)
def annotations(
    context: dg.AssetExecutionContext, lake: LakeResource, label_studio: LabelStudioResource
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Annotations and task statuses, pulled from the Label Studio JSON export (a round trip)."""
    project = label_studio.project(lake.local_path(), class_names())
    export = project.export()
    tables = parse_export(export, class_names())

    counts = tables.tasks["status"].value_counts().to_dict()
    per_class = tables.boxes["class_name"].value_counts().to_dict()
    context.log.info(f"export: {len(export)} tasks {counts}; {len(tables.boxes)} boxes {per_class}")
    context.add_output_metadata(
        {
            "boxes": len(tables.boxes),
            "per_class": per_class,
            "annotators": int(tables.boxes["annotator"].nunique()) if len(tables.boxes) else 0,
        },
        output_name="annotations",
    )
    context.add_output_metadata(
        {"tasks": len(tables.tasks), **counts}, output_name="annotation_tasks"
    )
    return tables.boxes, tables.tasks


class LabelIssuesConfig(dg.Config):
    """How out-of-sample predictions for the label-error search are made.

    Attributes:
        folds: K of the K-fold cross-training, grouped by drive.
        imgsz: Training and prediction size of the fold models.
        epochs: Epochs per fold model.
        worst_n: How many of the worst frames the summary lists.
    """

    folds: int = 2
    imgsz: int = 320
    epochs: int = 8
    worst_n: int = 10


@dg.asset(
    io_manager_key="parquet_io_manager",
    group_name="labeling",
    kinds={"cleanlab", "parquet"},
    ins={"sampled_frames": dg.AssetIn(metadata={"allow_missing_partitions": True})},
)
def label_issues(
    context: dg.AssetExecutionContext,
    config: LabelIssuesConfig,
    lake: LakeResource,
    sampled_frames: dict[str, pd.DataFrame],
    annotations: pd.DataFrame,
    annotation_tasks: pd.DataFrame,
) -> pd.DataFrame:
    """Label quality per labelled frame: cleanlab score, issue flag and issue type.

    Predictions are out of sample: each frame is predicted by a model trained without its drive
    (drive-grouped K-fold).
    """
    frames = labelled_frames(concat_partitions(sampled_frames), annotation_tasks)
    configure_ultralytics(roadmark_home() / "ultralytics")
    train_config = TrainConfig(imgsz=config.imgsz, epochs=config.epochs)

    inputs_key = table_digest(
        frames[["frame_id", "source_sha256"]], annotations, config.model_dump()
    )
    cache = lake.local_path("work", "label_issues", inputs_key, "predictions.parquet")
    if cache.exists():
        context.log.info(f"reusing out-of-sample predictions {inputs_key}: same labels and folds")
        predictions = lake_io.read_parquet(cache)
    else:
        predictions = cross_val_predictions(
            frames,
            annotations,
            class_names(),
            k=config.folds,
            group_column="source_sha256",
            train_config=train_config,
            work_dir=cache.parent,
        )
        lake_io.write_parquet_atomic(cache, predictions)
    issues = find_label_issues(frames, annotations, predictions, class_names())

    worst = issues.head(config.worst_n)
    context.log.info(
        f"{int(issues['is_issue'].sum())} of {len(issues)} frames flagged; "
        f"types {issues.loc[issues['is_issue'], 'issue_type'].value_counts().to_dict()}"
    )
    context.add_output_metadata(
        {
            "frames": len(issues),
            "flagged": int(issues["is_issue"].sum()),
            "folds": config.folds,
            "worst": dg.MetadataValue.md(
                worst[["frame_id", "quality_score", "issue_type"]].to_markdown(index=False)
            ),
        }
    )
    return issues
