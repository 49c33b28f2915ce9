"""Jobs: the slices of the asset graph that sensors and schedules launch."""

from __future__ import annotations

import dagster as dg

INGEST = dg.AssetSelection.assets("raw_videos", "sampled_frames")
SEND_TO_LABELING = dg.AssetSelection.assets("labeling_tasks")
PULL_ANNOTATIONS = dg.AssetSelection.assets(
    "annotations",
    "annotation_records",
    "annotation_tasks",
    "consensus_labels",
    "annotator_agreement",
    "frame_agreement",
    "label_disagreements",
    "label_issues",
    "labeling_throughput",
)
LABELING = SEND_TO_LABELING | PULL_ANNOTATIONS
RETRAIN_RELEASE = dg.AssetSelection.assets(
    "dataset_version",
    "trained_detector",
    "detector_evaluation",
    "onnx_model",
    "ota_release",
    "drift_reference",
)
MONITORING = dg.AssetSelection.assets("fleet_telemetry", "drift_report", "fleet_dashboard")

ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=INGEST,
    description="Catalog one landed source and sample its frames (one run per source).",
)
labeling_job = dg.define_asset_job(
    "labeling_job",
    selection=LABELING,
    description="Send frames to Label Studio, pull the annotations back, find label errors.",
)
send_to_labeling_job = dg.define_asset_job(
    "send_to_labeling_job",
    selection=SEND_TO_LABELING,
    description="Import newly sampled frames into Label Studio as tasks.",
)
pull_annotations_job = dg.define_asset_job(
    "pull_annotations_job",
    selection=PULL_ANNOTATIONS,
    description="Pull completed annotations from Label Studio and search them for label errors.",
)
retrain_release_job = dg.define_asset_job(
    "retrain_release_job",
    selection=RETRAIN_RELEASE,
    description="Split, train, evaluate, export and release a detector as a signed OTA bundle.",
)
drift_job = dg.define_asset_job(
    "drift_job",
    selection=MONITORING,
    description="Collect one day of fleet telemetry and check it for drift.",
)
relabel_job = dg.define_asset_job(
    "relabel_job",
    selection=dg.AssetSelection.assets("relabel_queue"),
    description="Queue a stratified sample of a drifted day's frames for labeling.",
)
