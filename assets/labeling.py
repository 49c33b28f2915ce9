"""Labeling assets: tasks in Label Studio, the annotations pulled back, and label errors."""

import dagster as dg
import pandas as pd

from assets.resources import LabelStudioResource, LakeResource
from assets.settings import TrainSettings, cpu_cross_val_settings
from roadmark_pipeline.frames import (
    cached_table,
    concat_partitions,
    labelled_frames,
    table_digest,
)
from roadmark_pipeline.labeling.agreement import agreement_table, frame_agreement, human_level
from roadmark_pipeline.labeling.consensus import consensus_labels as vote
from roadmark_pipeline.labeling.convert import parse_export
from roadmark_pipeline.labeling.review import send_for_review
from roadmark_pipeline.model.label_quality import cross_val_predictions, find_label_issues
from roadmark_pipeline.model.offline import configure_ultralytics
from roadmark_pipeline.model_flow import production_predictions
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
    """Label Studio tasks, one per usable sampled frame: frame id, task id and project.

    New frames carry the production model's boxes as pre-annotations (with its model version
    and scores) once a model is in production, so annotators correct rather than draw.
    """
    frames = concat_partitions(sampled_frames)
    usable = frames[frames["usable"]] if len(frames) else frames
    lake.mirror("frames")
    project = label_studio.project(lake.local_path(), class_names())

    fresh = usable[~usable["frame_id"].isin(project.task_ids_by_frame())]
    configure_ultralytics(roadmark_home() / "ultralytics")
    predictions, model_id = production_predictions(*lake.production_models(), fresh)
    new = project.import_frames(fresh, predictions=predictions, model_version=model_id)
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
            "pre_annotated_by": model_id or "none yet (no production model)",
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
        "annotation_records": dg.AssetOut(
            io_manager_key="parquet_io_manager",
            kinds={"parquet"},
            description="One row per submitted annotation: who, which frame, when, how long.\n\n"
            "Cancelled or not and boxes drawn: what throughput is computed from.",
        ),
        "annotation_tasks": dg.AssetOut(
            io_manager_key="parquet_io_manager",
            kinds={"parquet"},
            description="Status of every labeling task, with its number of annotations.\n\n"
            "One of labelled, reviewed_empty, unannotated, cancelled or unconvertible (a region "
            "that cannot become a box: left out of training, reported).",
        ),
    },
    group_name="labeling",
    deps=["labeling_tasks"],
)
def annotations(
    context: dg.AssetExecutionContext, lake: LakeResource, label_studio: LabelStudioResource
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Annotations, annotation records and task statuses pulled from the Label Studio export."""
    project = label_studio.project(lake.local_path(), class_names())
    export = project.export()
    tables = parse_export(export, class_names())

    counts = tables.tasks["status"].value_counts().to_dict()
    per_class = tables.boxes["class_name"].value_counts().to_dict()
    context.log.info(f"export: {len(export)} tasks {counts}; {len(tables.boxes)} boxes {per_class}")
    for kind, n in tables.issues["kind"].value_counts().items():
        context.log.warning(f"{n} regions {kind} during conversion (see the conversion notes)")
    context.add_output_metadata(
        {
            "boxes": len(tables.boxes),
            "per_class": per_class,
            "annotators": int(tables.boxes["annotator"].nunique()) if len(tables.boxes) else 0,
            "conversion_notes": len(tables.issues),
        },
        output_name="annotations",
    )
    context.add_output_metadata(
        {"annotations": len(tables.annotations)}, output_name="annotation_records"
    )
    context.add_output_metadata(
        {"tasks": len(tables.tasks), **counts}, output_name="annotation_tasks"
    )
    return tables.boxes, tables.annotations, tables.tasks


class ConsensusConfig(dg.Config):
    """How annotators' boxes are voted into one label set.

    Attributes:
        iou_threshold: Boxes of different annotators with at least this IoU are one object.
        slice_columns: Frame columns the agreement is broken down by.
    """

    iou_threshold: float = 0.5
    slice_columns: list[str] = ["source_name", "camera_model"]


@dg.multi_asset(
    outs={
        "consensus_labels": dg.AssetOut(
            io_manager_key="parquet_io_manager",
            kinds={"parquet"},
            description="The labels training uses: one box set per frame by majority vote.\n\n"
            "Annotators' boxes matched by IoU, coordinates fused, borderline votes carried.",
        ),
        "annotator_agreement": dg.AssetOut(
            io_manager_key="parquet_io_manager",
            kinds={"parquet"},
            description="Each annotator against the consensus per class and slice: P, R, F1.\n\n"
            "The human-level performance estimate of the error analysis.",
        ),
        "frame_agreement": dg.AssetOut(
            io_manager_key="parquet_io_manager",
            kinds={"parquet"},
            description="Per frame with several annotators, their pooled F1 against the vote.\n\n"
            "The human level of each slice in the error analysis.",
        ),
        "label_disagreements": dg.AssetOut(
            io_manager_key="parquet_io_manager",
            kinds={"parquet"},
            description="What the vote overruled, listed for adjudication.\n\n"
            "Minority boxes, missed boxes, class conflicts and class ties.",
        ),
    },
    group_name="labeling",
    ins={"sampled_frames": dg.AssetIn(metadata={"allow_missing_partitions": True})},
)
def consensus_labels(
    context: dg.AssetExecutionContext,
    config: ConsensusConfig,
    sampled_frames: dict[str, pd.DataFrame],
    annotations: pd.DataFrame,
    annotation_records: pd.DataFrame,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Consensus labels, annotator agreement, per-frame agreement and the disagreements."""
    frames = concat_partitions(sampled_frames)
    result = vote(
        annotations, annotation_records, class_names(), iou_threshold=config.iou_threshold
    )
    slices = [column for column in config.slice_columns if column in frames]
    agreement = agreement_table(result, class_names(), frames, slices)
    humans = human_level(agreement)

    context.log.info(
        f"{len(result.boxes)} consensus boxes from {len(annotations)} annotator "
        f"boxes; {len(result.disagreements)} disagreements"
    )
    context.add_output_metadata(
        {
            "boxes": len(result.boxes),
            "per_class": result.boxes["class_name"].value_counts().to_dict(),
            "frames_with_several_annotators": int((result.frames["n_annotators"] > 1).sum()),
        },
        output_name="consensus_labels",
    )
    context.add_output_metadata(
        {"human_level": dg.MetadataValue.md(humans.to_markdown(floatfmt=".3f"))},
        output_name="annotator_agreement",
    )
    context.add_output_metadata(
        {
            "disagreements": len(result.disagreements),
            "by_kind": result.disagreements["kind"].value_counts().to_dict()
            if len(result.disagreements)
            else {},
        },
        output_name="label_disagreements",
    )
    per_frame = frame_agreement(result).rename_axis("frame_id").reset_index()
    return result.boxes, agreement, per_frame, result.disagreements


class LabelIssuesConfig(dg.Config):
    """How out-of-sample predictions for the label-error search are made.

    Attributes:
        folds: K of the K-fold cross-training, grouped by drive.
        training: Settings of the fold models.
        review_n: How many of the worst frames go back to Label Studio for review.
    """

    folds: int = 2
    training: TrainSettings = cpu_cross_val_settings()
    review_n: int = 20


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
    label_studio: LabelStudioResource,
    sampled_frames: dict[str, pd.DataFrame],
    consensus_labels: pd.DataFrame,
    annotation_tasks: pd.DataFrame,
) -> pd.DataFrame:
    """Label quality per labelled frame: cleanlab score, issue flag and issue type.

    Predictions are out of sample: each frame is predicted by a model trained without its drive
    (drive-grouped K-fold). The worst frames go back to Label Studio as review tasks.
    """
    frames = labelled_frames(concat_partitions(sampled_frames), annotation_tasks)
    digest = table_digest(
        frames[["frame_id", "source_sha256"]],
        consensus_labels,
        config.model_dump(exclude={"review_n"}),
    )
    lake.mirror("frames")
    cache = lake.local_path("work", "label_issues", digest, "predictions.parquet")

    def predict() -> pd.DataFrame:
        configure_ultralytics(roadmark_home() / "ultralytics")
        return cross_val_predictions(
            frames,
            consensus_labels,
            class_names(),
            k=config.folds,
            group_column="source_sha256",
            work_dir=cache.parent,
            train_config=config.training.to_train_config(),
        )

    with lake.workspace("work", "label_issues", digest):
        predictions, reused = cached_table(cache, predict)
    issues = find_label_issues(frames, consensus_labels, predictions, class_names())
    review = send_for_review(
        label_studio.project(lake.local_path(), class_names()), issues, n_worst=config.review_n
    )

    flagged = issues[issues["is_issue"]]
    context.log.info(
        f"{len(flagged)} of {len(issues)} frames flagged "
        f"{flagged['issue_type'].value_counts().to_dict()}; predictions "
        f"{'reused' if reused else 'made'} ({digest}); {len(review.task_ids)} tasks sent for "
        f"review (batch {review.batch})"
    )
    context.add_output_metadata(
        {
            "frames": len(issues),
            "flagged": len(flagged),
            "folds": config.folds,
            "sent_for_review": len(review.task_ids),
            "review_batch": review.batch,
            "worst": dg.MetadataValue.md(
                issues.head(config.review_n)[
                    ["frame_id", "quality_score", "issue_type"]
                ].to_markdown(index=False)
            ),
        }
    )
    return issues
