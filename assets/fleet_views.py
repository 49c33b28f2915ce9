"""What the fleet's drift leads to: the operator's dashboard and the relabel queue."""

import dagster as dg
import pandas as pd

from assets.partitions import daily_partitions
from assets.resources import LabelStudioResource, LakeResource
from roadmark_pipeline.frames import concat_partitions
from roadmark_pipeline.model.offline import configure_ultralytics
from roadmark_pipeline.model.plots import image_markdown
from roadmark_pipeline.model_flow import production_predictions
from roadmark_pipeline.monitoring.plots import timeseries_plots
from roadmark_pipeline.monitoring.relabel import DriftVerdict, select_relabel_sample
from roadmark_pipeline.settings import roadmark_home
from roadmark_pipeline.taxonomy import class_names

DASHBOARD_DAYS = 14
LAST_DAYS = dg.TimeWindowPartitionMapping(start_offset=-(DASHBOARD_DAYS - 1), end_offset=0)
MAYBE_MISSING = {"allow_missing_partitions": True}


@dg.asset(
    partitions_def=daily_partitions,
    io_manager_key="json_io_manager",
    group_name="monitoring",
    kinds={"matplotlib"},
    ins={
        "fleet_telemetry": dg.AssetIn(partition_mapping=LAST_DAYS, metadata=MAYBE_MISSING),
        "drift_report": dg.AssetIn(partition_mapping=LAST_DAYS, metadata=MAYBE_MISSING),
    },
)
def fleet_dashboard(
    context: dg.AssetExecutionContext,
    lake: LakeResource,
    fleet_telemetry: dict[str, pd.DataFrame],
    drift_report: dict[str, dict],
) -> dict:
    """The operator's view of the last 14 days: software, input and output metrics over time.

    Latency, fps and resources; brightness, contrast, blur and exposure; detections, confidence
    and empty frames per camera model; and the daily drift share. Plots are shown in this
    asset's metadata (the Dagster UI is the dashboard) and kept as PNG files.
    """
    history = concat_partitions(fleet_telemetry)
    drift = pd.DataFrame(
        [
            {
                "day": day,
                "drifted_share": record.get("drifted_share"),
                "status": record.get("status"),
                "drift_share_threshold": record.get("drift_share_threshold"),
            }
            for day, record in sorted(drift_report.items())
        ]
    )
    dashboard_parts = ("reports", "dashboard", context.partition_key)
    with lake.workspace(*dashboard_parts, pull=False, prune=True) as out_dir:
        plots = timeseries_plots(history, out_dir, drift_history=drift if len(drift) else None)

    context.log.info(f"{len(history)} telemetry rows over {len(fleet_telemetry)} days plotted")
    context.add_output_metadata(
        {"rows": len(history), "days_with_telemetry": len(fleet_telemetry)}
        | {
            f"plot_{name}": dg.MetadataValue.md(image_markdown(path))
            for name, path in plots.items()
        }
    )
    return {"day": context.partition_key, "plots": {name: str(p) for name, p in plots.items()}}


class RelabelConfig(dg.Config):
    """How many drifted frames go back to the annotators.

    Attributes:
        frames: Size of the stratified sample.
        seed: Seed of the sample.
    """

    frames: int = 40
    seed: int = 0


@dg.asset(
    partitions_def=daily_partitions,
    io_manager_key="parquet_io_manager",
    group_name="monitoring",
    kinds={"labelstudio"},
    ins={
        "sampled_frames": dg.AssetIn(
            partition_mapping=dg.AllPartitionMapping(), metadata=MAYBE_MISSING
        )
    },
)
def relabel_queue(
    context: dg.AssetExecutionContext,
    config: RelabelConfig,
    lake: LakeResource,
    label_studio: LabelStudioResource,
    sampled_frames: dict[str, pd.DataFrame],
    drift_report: dict,
) -> pd.DataFrame:
    """Frames sent back to labeling because the fleet drifted that day, with pre-annotations.

    A sample of the ingested frames of the drifted camera models (all frames when the whole
    fleet drifted), stratified by camera model and brightness bucket, imported into Label
    Studio with the production model's boxes to correct.
    """
    verdict = DriftVerdict.from_metadata(drift_report, segment_column="camera_model")
    frames = concat_partitions(sampled_frames)
    sample = select_relabel_sample(frames, verdict, n=config.frames, seed=config.seed)
    if sample.empty:
        context.log.info(
            f"nothing to relabel: {verdict.status}, drifted segments "
            f"{list(verdict.drifted_segments)}, no ingested frames match"
        )
        return sample

    configure_ultralytics(roadmark_home() / "ultralytics")
    lake.mirror("frames")
    predictions, model_id = production_predictions(*lake.production_models(), sample)
    project = label_studio.project(lake.local_path(), class_names())
    new = project.import_frames(sample, predictions=predictions, model_version=model_id)

    context.log.info(
        f"{len(sample)} drifted frames queued ({new} new tasks) from "
        f"{sorted(sample['stratum'].unique())}"
    )
    context.add_output_metadata(
        {
            "frames": len(sample),
            "new_tasks": new,
            "strata": sample["stratum"].nunique(),
            "segments": ", ".join(verdict.drifted_segments) or "whole fleet",
            "pre_annotated_by": model_id or "none",
        }
    )
    return sample[["frame_id", "source_sha256", "camera_model", "brightness_bucket", "stratum"]]
