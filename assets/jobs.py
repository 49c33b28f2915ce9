"""Jobs: the slices of the asset graph that sensors and schedules launch."""

from __future__ import annotations

import dagster as dg

from assets.partitions import daily_partitions, sources_partitions

INGEST = dg.AssetSelection.assets("raw_videos", "sampled_frames")
LABELING = dg.AssetSelection.assets("labeling_tasks", "annotations", "label_issues")
RETRAIN_RELEASE = dg.AssetSelection.assets(
    "dataset_version", "trained_detector", "detector_evaluation", "onnx_model", "ota_release"
)
MONITORING = dg.AssetSelection.assets("fleet_telemetry", "drift_report")

ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=INGEST,
    partitions_def=sources_partitions,
    description="Catalog one landed source and sample its frames (one run per source).",
)
labeling_job = dg.define_asset_job(
    "labeling_job",
    selection=LABELING,
    description="Send sampled frames to Label Studio, pull the annotations back, find label errors.",
)
retrain_release_job = dg.define_asset_job(
    "retrain_release_job",
    selection=RETRAIN_RELEASE,
    description="Split, train, evaluate, export and release a detector as a signed OTA bundle.",
)
drift_job = dg.define_asset_job(
    "drift_job",
    selection=MONITORING,
    partitions_def=daily_partitions,
    description="Collect one day of fleet telemetry and check it for drift.",
)
