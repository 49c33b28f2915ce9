"""The drift sensor requests one retrain per drift event; the nightly schedule picks yesterday."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from roadmark_pipeline.definitions import defs
from sensors.drift import drift_sensor, nightly_drift_schedule


def report_event(instance: dg.DagsterInstance, status: str, event_key: str, day: str) -> None:
    """Record a drift_report materialization as the drift job would."""
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            asset_key="drift_report",
            partition=day,
            metadata={"status": status, "event_key": event_key},
        )
    )


def evaluate(instance: dg.DagsterInstance, cursor: str | None):
    """One tick as the daemon runs it: run requests, skip message and the new cursor."""
    with dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs) as context:
        data = drift_sensor.evaluate_tick(context)
    return data, data.cursor


def test_drift_requests_retrain_once_per_event():
    with dg.instance_for_test() as instance:
        report_event(instance, "drift", "2026-12-03:brightness,contrast:cam-b", "2026-12-03")
        first, cursor = evaluate(instance, None)
        requests = {r.job_name: r for r in first.run_requests}
        assert {job: r.run_key for job, r in requests.items()} == {
            "relabel_job": "relabel:2026-12-03:brightness,contrast:cam-b",
            "retrain_release_job": "drift:2026-12-03:brightness,contrast:cam-b",
        }
        # The relabel run is for the drifted day; the retrain releases to canary first.
        assert requests["relabel_job"].partition_key == "2026-12-03"
        retrain = requests["retrain_release_job"]
        assert retrain.run_config["ops"]["ota_release"]["config"]["channel"] == "canary"

        # Next tick, nothing new: nothing requested.
        second, cursor = evaluate(instance, cursor)
        assert second.run_requests == []

        # A no-drift day: skipped with the reason.
        report_event(instance, "no_drift", "2026-12-04", "2026-12-04")
        third, _ = evaluate(instance, cursor)
        assert third.run_requests == [] and "no_drift" in third.skip_message


def test_insufficient_data_is_not_drift():
    with dg.instance_for_test() as instance:
        report_event(instance, "insufficient_data", "2026-12-04", "2026-12-04")
        result, _ = evaluate(instance, None)
        assert result.run_requests == [] and "insufficient_data" in result.skip_message


def test_nightly_schedule_targets_yesterday():
    context = dg.build_schedule_context(
        scheduled_execution_time=dt.datetime(2026, 12, 4, 2, 0, tzinfo=dt.UTC)
    )
    request = nightly_drift_schedule(context)
    assert request.partition_key == "2026-12-03"
    assert request.run_key == "nightly:2026-12-03"


def test_one_camera_model_drifting_is_flagged_even_when_the_fleet_is_fine():
    with dg.instance_for_test() as instance:
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                asset_key="drift_report",
                partition="2026-12-02",
                metadata={
                    "status": "no_drift",
                    "flagged": True,
                    "event_key": "drift-2026-12-02-cam-b",
                },
            )
        )
        result, _ = evaluate(instance, None)
        assert sorted(r.run_key for r in result.run_requests) == [
            "drift:drift-2026-12-02-cam-b",
            "relabel:drift-2026-12-02-cam-b",
        ]
