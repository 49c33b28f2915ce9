"""The instance, worker and Helm files under deploy/ parse and carry what their readers need.

The PostgreSQL instance and the Celery worker file are also used for real by
test_distributed_ingest.py. Kubernetes cannot run here (no cluster, no helm): its files are
checked against the run launcher's own config schema and the chart's value names.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy
import yaml
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config

from roadmark_pipeline.executors import EXECUTORS

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"

PG_ENV = {
    "ROADMARK_PG_HOST": "db.example.internal",
    "ROADMARK_PG_PORT": "5433",
    "ROADMARK_PG_USER": "dagster",
    "ROADMARK_PG_PASSWORD": "s3cret",
    "DAGSTER_PG_PASSWORD": "s3cret",
    "ROADMARK_PG_DB": "roadmark",
    "ROADMARK_MAX_CONCURRENT_RUNS": "4",
}
K8S_ENV = {
    "ROADMARK_K8S_NAMESPACE": "roadmark-runs",
    "ROADMARK_K8S_SERVICE_ACCOUNT": "roadmark-runner",
    "ROADMARK_K8S_JOB_IMAGE": "registry.example.com/roadmark:0.1.0",
}


@pytest.fixture()
def deploy_env(monkeypatch):
    for key, value in (PG_ENV | K8S_ENV).items():
        monkeypatch.setenv(key, value)


def load(relative: str) -> dict:
    return yaml.safe_load((DEPLOY / relative).read_text())


def processed(config_type, value) -> dict:
    """Validate ``value`` against a config schema, reading ``env:`` values; fail with errors."""
    result = process_config(config_type, value)
    assert result.success, [error.message for error in result.errors]
    return result.value


def instance_config(folder: str) -> dict:
    config, custom_class = dagster_instance_config(str(DEPLOY / folder))
    assert custom_class is None
    return dict(config)


def test_postgres_instance_stores_everything_in_postgres_through_psycopg2(deploy_env):
    from dagster_postgres import DagsterPostgresStorage
    from dagster_postgres.utils import pg_url_from_config

    config = instance_config("postgres")
    storage = processed(DagsterPostgresStorage.config_type(), config["storage"]["postgres"])
    url = sqlalchemy.engine.make_url(pg_url_from_config(storage))
    assert (url.drivername, url.host, url.port, url.database) == (
        "postgresql+psycopg2",
        "db.example.internal",
        5433,
        "roadmark",
    )
    # The driver it names is installed (SQLAlchemy 2.1 would pick psycopg 3 for postgresql://).
    assert sqlalchemy.create_engine(url).dialect.driver == "psycopg2"
    assert "s3cret" not in (DEPLOY / "postgres/dagster.yaml").read_text()

    coordinator = config["run_coordinator"]
    assert coordinator["class"] == "QueuedRunCoordinator"
    queued = processed(dg.QueuedRunCoordinator.config_type(), coordinator["config"])
    assert queued["max_concurrent_runs"] == 4
    assert config["telemetry"] == {"enabled": False}


def test_celery_worker_file_gives_the_workers_the_executors_broker(monkeypatch):
    from dagster_celery.cli import get_validated_config

    monkeypatch.setenv("ROADMARK_CELERY_BROKER", "redis://127.0.0.1:6390/0")
    monkeypatch.setenv("ROADMARK_CELERY_BACKEND", "redis://127.0.0.1:6390/0")
    config = get_validated_config(str(DEPLOY / "celery/worker.yaml"))
    assert config["broker"] == config["backend"] == "redis://127.0.0.1:6390/0"
    raw = load("celery/worker.yaml")["execution"]["config"]
    assert raw["broker"] == {"env": "ROADMARK_CELERY_BROKER"}


def test_k8s_instance_launches_runs_as_jobs_with_the_launchers_own_schema(deploy_env):
    from dagster_k8s import K8sRunLauncher
    from dagster_postgres import DagsterPostgresStorage

    config = instance_config("k8s")
    processed(DagsterPostgresStorage.config_type(), config["storage"]["postgres"])
    launcher = config["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_k8s", "K8sRunLauncher")
    settings = processed(K8sRunLauncher.config_type(), launcher["config"])
    assert settings["job_namespace"] == "roadmark-runs"
    assert settings["job_image"] == K8S_ENV["ROADMARK_K8S_JOB_IMAGE"]
    assert "ROADMARK_EXECUTOR=k8s" in settings["env_vars"]


# Value names of the official chart (helm/dagster, 1.13): top level and the parts we set.
CHART_TOP_LEVEL = {
    "global",
    "dagsterWebserver",
    "dagster-user-deployments",
    "postgresql",
    "generatePostgresqlPasswordSecret",
    "generateCeleryConfigSecret",
    "rabbitmq",
    "redis",
    "flower",
    "ingress",
    "imagePullSecrets",
    "computeLogManager",
    "scheduler",
    "runLauncher",
    "pythonLogs",
    "dagsterDaemon",
    "busybox",
    "migrate",
    "telemetry",
    "serviceAccount",
    "retention",
    "additionalInstanceConfig",
}
CHART_K8S_RUN_LAUNCHER = {
    "image",
    "imagePullPolicy",
    "jobNamespace",
    "loadInclusterConfig",
    "kubeconfigFile",
    "envConfigMaps",
    "envSecrets",
    "envVars",
    "volumeMounts",
    "volumes",
    "labels",
    "failPodOnRunFailure",
    "resources",
    "schedulerName",
    "securityContext",
    "runK8sConfig",
}
CHART_QUEUED_COORDINATOR = {
    "maxConcurrentRuns",
    "tagConcurrencyLimits",
    "dequeueIntervalSeconds",
    "dequeueNumWorkers",
    "dequeueUseThreads",
}
CHART_POSTGRESQL = {
    "image",
    "enabled",
    "postgresqlHost",
    "postgresqlUsername",
    "postgresqlPassword",
    "postgresqlDatabase",
    "postgresqlParams",
    "postgresqlScheme",
    "service",
}


def test_helm_values_use_the_charts_names_and_point_at_our_code_location():
    values = load("k8s/values.yaml")
    assert set(values) <= CHART_TOP_LEVEL, set(values) - CHART_TOP_LEVEL

    deployments = values["dagster-user-deployments"]["deployments"]
    assert len(deployments) == 1
    code = deployments[0]
    assert {"name", "image", "dagsterApiGrpcArgs", "port"} <= set(code)
    assert {"repository", "tag", "pullPolicy"} <= set(code["image"])
    assert code["image"]["tag"] != "latest"
    args = code["dagsterApiGrpcArgs"]
    module = args[args.index("--module-name") + 1]
    assert importlib.util.find_spec(module) is not None
    assert args[args.index("--attribute") + 1] == "defs"
    assert code["env"]["ROADMARK_EXECUTOR"] in EXECUTORS

    launcher = values["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher"
    assert set(launcher["config"]["k8sRunLauncher"]) <= CHART_K8S_RUN_LAUNCHER
    assert "ROADMARK_EXECUTOR=k8s" in launcher["config"]["k8sRunLauncher"]["envVars"]

    coordinator = values["dagsterDaemon"]["runCoordinator"]
    assert coordinator["type"] == "QueuedRunCoordinator"
    assert set(coordinator["config"]["queuedRunCoordinator"]) <= CHART_QUEUED_COORDINATOR

    postgresql = values["postgresql"]
    assert set(postgresql) <= CHART_POSTGRESQL
    assert postgresql["enabled"] is False and postgresql["postgresqlScheme"].endswith("psycopg2")
    assert values["telemetry"] == {"enabled": False}


def test_helm_chart_version_matches_the_installed_dagster():
    text = (DEPLOY / "k8s/values.yaml").read_text()
    assert f"--version {dg.__version__}" in text


def test_compute_logs_in_the_bucket_use_an_installed_manager():
    from dagster_aws.s3.compute_log_manager import S3ComputeLogManager

    config = load("k8s/values.yaml")["computeLogManager"]
    assert config["type"] == "S3ComputeLogManager"
    settings = config["config"]["s3ComputeLogManager"]
    processed(S3ComputeLogManager.config_type(), settings)


def test_workspace_reaches_the_code_location_server_named_by_env(monkeypatch):
    from dagster._core.workspace.config_schema import process_workspace_config

    monkeypatch.setenv("ROADMARK_CODE_HOST", "code.roadmark.internal")
    monkeypatch.setenv("ROADMARK_CODE_PORT", "4000")
    result = process_workspace_config(load("workspace.yaml"))
    assert result.success, [error.message for error in result.errors]
    server = result.value["load_from"][0]["grpc_server"]
    assert server == {"host": "code.roadmark.internal", "port": 4000, "location_name": "roadmark"}
