"""The executor is chosen by ROADMARK_EXECUTOR; unset keeps Dagster's default."""

from __future__ import annotations

import json
import subprocess
import sys

import dagster as dg
import pytest
from dagster._core.system_config.objects import ResolvedRunConfig

from roadmark_pipeline.executors import EXECUTORS, ExecutorConfigError, executor_from_env

REDIS = "redis://127.0.0.1:6390/0"


@dg.op
def one() -> int:
    return 1


def resolved_executor_config(executor: dg.ExecutorDefinition) -> dict:
    @dg.job(executor_def=executor)
    def tiny():
        one()

    return dict(ResolvedRunConfig.build(tiny, {}).execution.execution_engine_config)


@pytest.mark.parametrize("value", [None, "", "  "])
def test_unset_or_empty_keeps_dagsters_default(value):
    env = {} if value is None else {"ROADMARK_EXECUTOR": value}
    assert executor_from_env(env) is None


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("in_process", "in_process"),
        ("In-Process", "in_process"),
        ("multiprocess", "multiprocess"),
        ("k8s", "k8s"),
    ],
)
def test_each_named_executor(value, name):
    assert executor_from_env({"ROADMARK_EXECUTOR": value}).name == name


def test_an_unknown_executor_names_the_variable_and_the_choices():
    with pytest.raises(ExecutorConfigError) as error:
        executor_from_env({"ROADMARK_EXECUTOR": "dask"})
    message = str(error.value)
    assert "ROADMARK_EXECUTOR='dask'" in message
    assert all(choice in message for choice in EXECUTORS)


def test_celery_without_a_broker_says_which_variable_to_set():
    with pytest.raises(ExecutorConfigError, match="ROADMARK_CELERY_BROKER"):
        executor_from_env({"ROADMARK_EXECUTOR": "celery"})


def test_celery_reads_broker_and_backend_where_the_run_executes(monkeypatch):
    env = {"ROADMARK_EXECUTOR": "celery", "ROADMARK_CELERY_BROKER": REDIS}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("ROADMARK_CELERY_BACKEND", raising=False)
    executor = executor_from_env(env)
    assert executor.name == "celery"
    config = resolved_executor_config(executor)
    assert config["broker"] == REDIS and config["backend"] == REDIS  # Redis is its own backend

    backend = "redis://127.0.0.1:6390/1"
    monkeypatch.setenv("ROADMARK_CELERY_BACKEND", backend)
    config = resolved_executor_config(executor_from_env(env | {"ROADMARK_CELERY_BACKEND": backend}))
    assert config["backend"] == backend


def test_celery_on_amqp_gets_rpc_results(monkeypatch):
    broker = "pyamqp://guest@127.0.0.1:5672//"
    monkeypatch.setenv("ROADMARK_CELERY_BROKER", broker)
    monkeypatch.delenv("ROADMARK_CELERY_BACKEND", raising=False)
    env = {"ROADMARK_EXECUTOR": "celery", "ROADMARK_CELERY_BROKER": broker}
    config = resolved_executor_config(executor_from_env(env))
    assert config == config | {"broker": broker, "backend": "rpc://"}


PROBE = """
import json, sys
from roadmark_pipeline.definitions import defs
print(json.dumps({
    "executor": defs.resolve_job_def("ingest_job").executor_def.name,
    "celery_imported": "dagster_celery" in sys.modules,
    "k8s_imported": "dagster_k8s" in sys.modules,
}))
"""


def load_code_location(monkeypatch, **env: str) -> dict:
    """Import the code location in a fresh interpreter with ``env``; report its executor."""
    for key in ("ROADMARK_EXECUTOR", "ROADMARK_CELERY_BROKER", "ROADMARK_CELERY_BACKEND"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=False, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_code_location_default_is_unchanged_and_imports_no_scale_out_package(monkeypatch):
    loaded = load_code_location(monkeypatch)
    assert loaded == {
        "executor": "multi_or_in_process_executor",
        "celery_imported": False,
        "k8s_imported": False,
    }


def test_code_location_runs_steps_on_celery_when_chosen(monkeypatch):
    loaded = load_code_location(
        monkeypatch, ROADMARK_EXECUTOR="celery", ROADMARK_CELERY_BROKER=REDIS
    )
    assert loaded["executor"] == "celery" and loaded["k8s_imported"] is False


def test_code_location_refuses_to_load_with_an_unknown_executor(monkeypatch):
    monkeypatch.setenv("ROADMARK_EXECUTOR", "threads")
    out = subprocess.run(
        [sys.executable, "-c", "import roadmark_pipeline.definitions"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert out.returncode != 0
    assert "ROADMARK_EXECUTOR='threads' is not an executor roadmark knows" in out.stderr
