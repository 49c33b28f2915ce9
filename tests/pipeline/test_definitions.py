"""The code location loads, and the lake IO managers store what the assets return."""

# No `from __future__ import annotations`: Dagster reads the context annotation at definition.

import dagster as dg
import pandas as pd
import pytest

from assets.resources import JsonIOManager, ParquetIOManager
from roadmark_pipeline.definitions import defs

JOBS = (
    "ingest_job",
    "send_to_labeling_job",
    "pull_annotations_job",
    "labeling_job",
    "retrain_release_job",
    "drift_job",
)


def test_code_location_loads_with_every_job_sensor_and_schedule():
    dg.Definitions.validate_loadable(defs)
    for job in JOBS:
        assert defs.resolve_job_def(job) is not None
    assert defs.resolve_sensor_def("landing_sensor").job_name == "ingest_job"
    drift_jobs = {target.job_name for target in defs.resolve_sensor_def("drift_sensor").targets}
    assert drift_jobs == {"retrain_release_job", "relabel_job"}
    assert defs.resolve_sensor_def("annotation_sensor").job_name == "pull_annotations_job"
    assert defs.resolve_schedule_def("nightly_drift_schedule").cron_schedule == "0 2 * * *"


def test_blocking_checks_guard_labeling_and_release():
    graph = defs.resolve_asset_graph()
    blocking = {key.name for key in graph.asset_check_keys if graph.get_check_spec(key).blocking}
    assert {"frames_anonymised", "onnx_matches_pytorch"} <= blocking


def test_every_asset_says_what_its_data_is():
    for node in defs.resolve_asset_graph().asset_nodes:
        assert node.description, f"{node.key.to_user_string()} has no description"
        first_line = node.description.strip().splitlines()[0]
        assert len(first_line) <= 100


@dg.asset(
    partitions_def=dg.StaticPartitionsDefinition(["a", "b"]), io_manager_key="parquet_io_manager"
)
def per_source(context: dg.AssetExecutionContext) -> pd.DataFrame:
    return pd.DataFrame({"source": [context.partition_key], "value": [len(context.partition_key)]})


@dg.asset(
    io_manager_key="parquet_io_manager",
    ins={"per_source": dg.AssetIn(metadata={"allow_missing_partitions": True})},
)
def combined(per_source: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(per_source.values(), ignore_index=True)


@dg.asset(io_manager_key="json_io_manager")
def record(combined: pd.DataFrame) -> dict:
    return {"rows": len(combined)}


def test_lake_io_managers_store_tables_and_records(tmp_path):
    resources = {
        "parquet_io_manager": ParquetIOManager(root=str(tmp_path)),
        "json_io_manager": JsonIOManager(root=str(tmp_path)),
    }
    with dg.instance_for_test() as instance:
        dg.materialize([per_source], partition_key="a", resources=resources, instance=instance)
        # Partition "b" was never materialized: the fan-in loads what exists and says so.
        result = dg.materialize(
            [per_source, combined, record],
            resources=resources,
            instance=instance,
            selection=["combined", "record"],
        )
    assert result.success
    assert pd.read_parquet(tmp_path / "tables/per_source/a.parquet")["source"].tolist() == ["a"]
    assert not (tmp_path / "tables/per_source/b.parquet").exists()
    assert pd.read_parquet(tmp_path / "tables/combined.parquet")["source"].tolist() == ["a"]
    assert (tmp_path / "tables/record.json").read_text().strip().endswith("}")
    assert result.output_for_node("record") == {"rows": 1}


def test_parquet_io_manager_refuses_other_types(tmp_path):
    @dg.asset(io_manager_key="parquet_io_manager")
    def not_a_table() -> dict:
        return {"a": 1}

    with pytest.raises(TypeError, match="stores DataFrames"):
        dg.materialize(
            [not_a_table], resources={"parquet_io_manager": ParquetIOManager(root=str(tmp_path))}
        )


DAYS = dg.DailyPartitionsDefinition(start_date="2026-11-01", end_date="2026-11-10")


@dg.asset(partitions_def=DAYS, io_manager_key="parquet_io_manager")
def per_day(context: dg.AssetExecutionContext) -> pd.DataFrame:
    return pd.DataFrame({"day": [context.partition_key]})


@dg.asset(
    partitions_def=DAYS,
    io_manager_key="json_io_manager",
    ins={
        "per_day": dg.AssetIn(
            partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-2, end_offset=0),
            metadata={"allow_missing_partitions": True},
        )
    },
)
def window(per_day: dict[str, pd.DataFrame]) -> dict:
    return {"days": sorted(per_day)}


def test_a_window_of_partitions_is_a_dict_even_with_one_day_present(tmp_path):
    resources = {
        "parquet_io_manager": ParquetIOManager(root=str(tmp_path)),
        "json_io_manager": JsonIOManager(root=str(tmp_path)),
    }
    with dg.instance_for_test() as instance:
        dg.materialize(
            [per_day], partition_key="2026-11-05", resources=resources, instance=instance
        )
        result = dg.materialize(
            [per_day, window],
            partition_key="2026-11-05",
            resources=resources,
            instance=instance,
            selection=["window"],
        )
        said = [
            record.user_message
            for record in instance.all_logs(result.run_id)
            if "not materialized" in record.user_message
        ]
    assert result.output_for_node("window") == {"days": ["2026-11-05"]}
    # The two absent days of the window are one line, not a warning per day.
    assert len(said) == 1 and "2 of 3 partitions" in said[0], said
    assert "2026-11-03, 2026-11-04" in said[0]


def test_opening_the_ui_launches_no_pipeline_run():
    # Sensors and the nightly drift check wait to be turned on; only the TUF re-signing runs,
    # because devices refuse a repository whose timestamp expired.
    for name in ("landing_sensor", "annotation_sensor", "drift_sensor"):
        assert defs.resolve_sensor_def(name).default_status == dg.DefaultSensorStatus.STOPPED
    schedule = defs.resolve_schedule_def
    assert schedule("nightly_drift_schedule").default_status == dg.DefaultScheduleStatus.STOPPED
    assert schedule("tuf_refresh_schedule").default_status == dg.DefaultScheduleStatus.RUNNING
