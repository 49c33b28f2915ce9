"""The Dagster code location: every asset, check, job, sensor, schedule and resource."""

from __future__ import annotations

import dagster as dg

from assets import (
    evaluation,
    fleet,
    fleet_views,
    ingest,
    labeling,
    labeling_progress,
    release,
    training,
)
from assets.jobs import (
    drift_job,
    ingest_job,
    labeling_job,
    pull_annotations_job,
    relabel_job,
    retrain_release_job,
    send_to_labeling_job,
)
from assets.maintenance import tuf_refresh_job
from assets.resources import (
    JsonIOManager,
    LabelStudioResource,
    LakeResource,
    LandingZoneResource,
    ParquetIOManager,
)
from roadmark_pipeline.executors import executor_from_env
from sensors.annotations import annotation_sensor
from sensors.drift import drift_sensor, nightly_drift_schedule, tuf_refresh_schedule
from sensors.landing import landing_sensor

ASSET_MODULES = (
    ingest,
    labeling,
    labeling_progress,
    training,
    evaluation,
    release,
    fleet,
    fleet_views,
)

defs = dg.Definitions(
    assets=dg.load_assets_from_modules(ASSET_MODULES),
    asset_checks=dg.load_asset_checks_from_modules(ASSET_MODULES),
    jobs=[
        ingest_job,
        send_to_labeling_job,
        pull_annotations_job,
        labeling_job,
        retrain_release_job,
        drift_job,
        relabel_job,
        tuf_refresh_job,
    ],
    sensors=[landing_sensor, annotation_sensor, drift_sensor],
    schedules=[nightly_drift_schedule, tuf_refresh_schedule],
    resources={
        "lake": LakeResource(),
        "landing": LandingZoneResource(),
        "label_studio": LabelStudioResource(),
        "parquet_io_manager": ParquetIOManager(),
        "json_io_manager": JsonIOManager(),
    },
    executor=executor_from_env(),  # $ROADMARK_EXECUTOR; unset keeps Dagster's default
)
