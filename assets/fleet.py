"""Monitoring assets: the drift reference, the fleet's daily telemetry and its drift report."""

import dagster as dg
import pandas as pd

from assets.partitions import daily_partitions
from assets.resources import LakeResource
from roadmark_pipeline.monitoring.drift import DriftConfig, reference_from_training
from roadmark_pipeline.monitoring.drift import drift_report as run_drift_report
from roadmark_pipeline.monitoring.fleet import collect_inbox, slice_summary
from roadmark_pipeline.release_flow import release_predictions
from roadmark_pipeline.settings import roadmark_home
from roadmark_pipeline.taxonomy import class_names


@dg.asset(io_manager_key="parquet_io_manager", group_name="monitoring", kinds={"parquet"})
def drift_reference(
    context: dg.AssetExecutionContext, lake: LakeResource, dataset_version: dict, ota_release: dict
) -> pd.DataFrame:
    """Reference fleet metrics: the dataset frames' inputs and the release's outputs on them.

    Outputs come from the release run exactly as a device runs it (its ONNX model, per-class
    thresholds and NMS), in telemetry column names, so a day of fleet telemetry compares
    directly.
    """
    frames, _ = lake.dataset_tables(dataset_version)
    predictions = release_predictions(
        lake.ensure(ota_release["release_dir"]), frames, roadmark_home() / "runtime-cache"
    )
    # The release's thresholds are already applied: keep every detection it returned.
    reference = reference_from_training(frames, predictions, class_names(), thresholds=0.0)

    context.log.info(f"reference of {len(reference)} frames for release {ota_release['version']}")
    context.add_output_metadata(
        {"rows": len(reference), "release": ota_release["version"], "detections": len(predictions)}
    )
    return reference


@dg.asset(
    partitions_def=daily_partitions,
    io_manager_key="parquet_io_manager",
    group_name="monitoring",
    kinds={"parquet"},
)
def fleet_telemetry(context: dg.AssetExecutionContext, lake: LakeResource) -> pd.DataFrame:
    """One day of per-frame fleet telemetry: input, output and software metrics.

    Deduplicated by batch and row id and schema-checked; bad batches are quarantined with the
    reason.
    """
    day = pd.Timestamp(context.partition_key).date()
    batches = collect_inbox(
        str(lake.path("fleet", "inbox")),
        day=day,
        seen_batch_ids=set(),
        quarantine_dir=str(lake.path("fleet", "quarantine")),
    )
    table = batches.table
    summary = slice_summary(table) if len(table) else pd.DataFrame()

    for name, reason in batches.quarantined:
        context.log.warning(f"quarantined batch {name}: {reason}")
    context.log.info(
        f"{len(table)} rows from {len(batches.accepted)} batches "
        f"({len(batches.duplicates)} duplicates skipped)"
    )
    context.add_output_metadata(
        {
            "rows": len(table),
            "batches": len(batches.accepted),
            "duplicates": len(batches.duplicates),
            "quarantined": len(batches.quarantined),
            "devices": int(table["device_id"].nunique()) if len(table) else 0,
            "by_slice": dg.MetadataValue.md(
                summary.to_markdown(index=False) if len(summary) else "-"
            ),
        }
    )
    return table


class DriftReportConfig(dg.Config):
    """Drift settings.

    Attributes:
        drift_share: Share of drifted columns that makes the day "drift".
        min_samples: Fewest non-null values a column needs to be evaluated.
    """

    drift_share: float = 0.5
    min_samples: int = 30


@dg.asset(
    partitions_def=daily_partitions,
    io_manager_key="json_io_manager",
    group_name="monitoring",
    kinds={"evidently"},
)
def drift_report(
    context: dg.AssetExecutionContext,
    config: DriftReportConfig,
    lake: LakeResource,
    fleet_telemetry: pd.DataFrame,
    drift_reference: pd.DataFrame,
) -> dict:
    """Evidently drift verdict of one day of telemetry against the reference.

    Overall and per camera model, with the HTML and JSON reports written beside it.
    """
    report_parts = ("reports", "drift", context.partition_key)
    with lake.workspace(*report_parts, pull=False, prune=True) as out_dir:
        result = run_drift_report(
            drift_reference,
            fleet_telemetry,
            config=DriftConfig(drift_share=config.drift_share, min_samples=config.min_samples),
            out_dir=out_dir,
            day=context.partition_key,
        )
    summary = result.to_metadata()

    context.log.info(f"drift status {result.status}, drifted share {result.drifted_share}")
    context.add_output_metadata(
        {
            **summary,
            "status": result.status,
            "event_key": result.event_key(),
            "html": dg.MetadataValue.path(str(result.html_path)),
            "columns": dg.MetadataValue.md(result.columns.to_markdown(index=False)),
        }
    )
    return {
        **summary,
        "status": result.status,
        "event_key": result.event_key(),
        "html_path": str(result.html_path),
        "json_path": str(result.json_path),
        "day": context.partition_key,
    }
