"""The drift sensor and the nightly drift schedule."""

import datetime as dt

import dagster as dg

from assets.jobs import drift_job, relabel_job, retrain_release_job


def _metadata_text(event: dg.EventLogEntry, key: str) -> str:
    materialization = event.asset_materialization
    if materialization is None or key not in materialization.metadata:
        return ""
    return str(materialization.metadata[key].value)


@dg.asset_sensor(
    asset_key=dg.AssetKey("drift_report"),
    jobs=[retrain_release_job, relabel_job],
    name="drift_sensor",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
)
def drift_sensor(
    context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry
) -> dg.SensorResult | dg.SkipReason:
    """A flagged drift report: once per drift event, relabel its frames and retrain to canary."""
    status = _metadata_text(asset_event, "status")
    event_key = _metadata_text(asset_event, "event_key")
    # "flagged" also covers one camera model drifting inside a fleet that looks fine overall.
    flagged = _metadata_text(asset_event, "flagged") == "True" or status == "drift"
    if not flagged or not event_key:
        return dg.SkipReason(f"latest drift report says {status or 'nothing'}; no retraining")

    day = asset_event.dagster_event.partition if asset_event.dagster_event else None
    context.log.info(f"drift event {event_key}: relabel sample and retrain, release to canary")
    tags = {"roadmark/trigger": "drift", "roadmark/drift_event": event_key}
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                job_name=relabel_job.name,
                run_key=f"relabel:{event_key}",
                partition_key=day,
                tags=tags,
            ),
            dg.RunRequest(
                job_name=retrain_release_job.name,
                run_key=f"drift:{event_key}",
                run_config={"ops": {"ota_release": {"config": {"channel": "canary"}}}},
                tags=tags,
            ),
        ]
    )


@dg.schedule(
    cron_schedule="0 2 * * *",
    job=drift_job,
    name="nightly_drift_schedule",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
def nightly_drift_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Every night at 02:00 UTC, collect yesterday's telemetry and check it for drift."""
    yesterday = (context.scheduled_execution_time - dt.timedelta(days=1)).strftime("%Y-%m-%d")
    return dg.RunRequest(run_key=f"nightly:{yesterday}", partition_key=yesterday)


tuf_refresh_schedule = dg.ScheduleDefinition(
    name="tuf_refresh_schedule",
    job_name="tuf_refresh_job",
    cron_schedule="0 */6 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    # Running by default, unlike the sensors: a TUF timestamp left unsigned for a day makes
    # every device refuse the repository as expired.
    description="Every 6 hours: re-sign the TUF timestamp, which expires after a day.",
)
