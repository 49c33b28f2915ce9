"""The ingest part of the graph scaled out: PostgreSQL, the daemon, two Celery workers, an S3 lake.

Everything is real and local: a throwaway PostgreSQL cluster holds the instance
(deploy/postgres/dagster.yaml), Redis is the Celery broker, moto's S3-protocol server holds the
landing zone and the lake, and the code location runs as its own gRPC server that the daemon
reaches through deploy/workspace.yaml. Dashcams "upload" trimmed real clips to the bucket; the
daemon's landing sensor tick adds one partition per clip and launches one ingest run each; every
step of those runs is executed by one of two Celery workers. Then the test reads back what a
user would check: the runs and partitions in PostgreSQL, which worker ran each step, the
sensor's tick, and the raw clips, frames and tables in the bucket. Every process is stopped by
its PID at the end, also when the test fails.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import time
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pytest
from dagster._serdes import deserialize_value

from roadmark_pipeline.ids import sha256_file, source_key
from tests.conftest import DATA
from tests.deploy import services as sv
from tests.deploy import stores
from tests.s3server import DUMMY_CREDENTIALS

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLIPS = ("test_video.mp4", "project_video_cut.mp4", "solidWhiteRight.mp4", "test_small1.mp4")
FRAMES_PER_CLIP = 30  # every 25th frame is sampled: frames 0 and 25 of each clip
BUCKET = "roadmark"
STEPS = {"raw_videos", "sampled_frames", "sampled_frames_frames_anonymised"}
RUNS_TIMEOUT_S = 360
WORKSPACE = sv.ROOT / "deploy/workspace.yaml"


def trimmed_clips(target: Path) -> dict[str, Path]:
    """The first frames of each real clip (stream copy), by name."""
    target.mkdir(parents=True)
    clips = {}
    for name in CLIPS:
        out = target / name
        subprocess.run(
            ["ffmpeg", "-v", "error", "-i", str(DATA / "videos" / name)]
            + ["-frames:v", str(FRAMES_PER_CLIP), "-c", "copy", str(out)],
            check=True,
        )
        clips[name] = out
    return clips


@pytest.fixture()
def services(tmp_path):
    with sv.running_services(tmp_path) as started:
        yield started


def start_stack(services: sv.Services, tmp_path: Path) -> tuple[stores.Postgres, str, dict]:
    """PostgreSQL, Redis, moto, the instance folder and the environment every process shares."""
    pg = stores.start_postgres(services)
    redis_url = stores.start_redis(services)
    s3_url = stores.start_moto(services)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(sv.ROOT / "deploy/postgres/dagster.yaml", home / "dagster.yaml")
    env = sv.base_env(
        pg.env()
        | DUMMY_CREDENTIALS
        | {
            "AWS_ENDPOINT_URL": s3_url,
            "DAGSTER_HOME": str(home),
            "ROADMARK_HOME": str(tmp_path / "roadmark_home"),
            "ROADMARK_LAKE": f"s3://{BUCKET}/lake",
            "ROADMARK_LANDING": f"s3://{BUCKET}/landing",
            "ROADMARK_EXECUTOR": "celery",
            "ROADMARK_CELERY_BROKER": redis_url,
            "ROADMARK_CELERY_BACKEND": redis_url,
            "ROADMARK_MAX_CONCURRENT_RUNS": "2",
        }
    )
    env.pop("AWS_PROFILE", None)
    stores.s3_client(s3_url).create_bucket(Bucket=BUCKET)
    return pg, s3_url, env


def test_landed_clips_are_ingested_by_two_celery_workers_into_postgres_and_s3(services, tmp_path):
    started = time.monotonic()
    clips = trimmed_clips(tmp_path / "clips")
    keys = {name: source_key(sha256_file(path)) for name, path in clips.items()}
    assert len(set(keys.values())) == len(CLIPS)

    pg, s3_url, env = start_stack(services, tmp_path)
    workers = [sv.start_celery_worker(services, name, env, wait=False) for name in ("w1", "w2")]
    # The code location is a server of its own, reached through deploy/workspace.yaml.
    _, code_port = sv.start_code_server(services, env)
    env |= {"ROADMARK_CODE_HOST": "127.0.0.1", "ROADMARK_CODE_PORT": str(code_port)}
    sv.start_daemon(services, env, WORKSPACE)
    for worker in workers:
        sv.wait_until_ready(worker)

    # Dashcams upload to the landing prefix; the sensor is turned on like a user would.
    s3 = stores.s3_client(s3_url)
    for name, path in clips.items():
        s3.upload_file(str(path), BUCKET, f"landing/{name}")
    sensor = subprocess.run(
        [str(sv.VENV_BIN / "dagster"), "sensor", "start", "landing_sensor"]
        + ["-w", str(WORKSPACE)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert sensor.returncode == 0, sensor.stdout + sensor.stderr

    runs = wait_for_runs(pg, services, len(CLIPS))
    assert set(runs.values()) == {"SUCCESS"}, f"{runs}\n{services.logs()}"

    # The runs and their partitions are recorded in PostgreSQL, launched by the sensor.
    tags = defaultdict(dict)
    for run_id, key, value in pg.query("SELECT run_id, key, value FROM run_tags"):
        tags[run_id][key] = value
    assert {tags[r]["dagster/sensor_name"] for r in runs} == {"landing_sensor"}
    assert {tags[r]["dagster/partition"] for r in runs} == set(keys.values())
    partitions = pg.query(
        "SELECT partition FROM dynamic_partitions WHERE partitions_def_name = 'sources'"
    )
    assert {p for (p,) in partitions} == set(keys.values())

    # The daemon's sensor tick requested exactly these runs.
    ticks = [json.loads(body) for (body,) in pg.query("SELECT tick_body FROM job_ticks")]
    launched = {run for tick in ticks for run in tick.get("run_ids", [])}
    assert launched == set(runs), ticks

    # Every step ran on a Celery worker, and both workers took steps.
    steps = celery_steps(pg)
    assert set(steps) == {(run, step) for run in runs for step in STEPS}
    workers_used = {worker.split("@")[0] for worker in steps.values()}
    assert workers_used == {"w1", "w2"}, steps

    # The blocking check passed for every clip.
    checks = pg.query(
        "SELECT partition, execution_status FROM asset_check_executions "
        "WHERE check_name = 'frames_anonymised'"
    )
    assert {status for (_, status) in checks} == {"SUCCEEDED"} and len(checks) == len(CLIPS)

    assert_lake_in_bucket(s3_url, keys)

    # Every process stops by its PID, with all it started.
    groups = [service.pid for service in services.started]
    services.stop_all()
    for pgid in groups:
        with pytest.raises(ProcessLookupError):
            os.killpg(pgid, 0)
    print(f"distributed ingest of {len(CLIPS)} clips: {time.monotonic() - started:.0f} s")


def wait_for_runs(pg: stores.Postgres, services: sv.Services, count: int) -> dict[str, str]:
    """Wait until ``count`` runs finished; return run id -> status (logs on timeout)."""
    deadline = time.monotonic() + RUNS_TIMEOUT_S
    runs: dict[str, str] = {}
    while time.monotonic() < deadline:
        runs = dict(pg.query("SELECT run_id, status FROM runs"))
        done = [s for s in runs.values() if s in ("SUCCESS", "FAILURE", "CANCELED")]
        if len(done) >= count:
            return runs
        for service in services.started:
            assert service.running(), f"{service.name} died:\n{services.logs()}"
        time.sleep(2)
    pytest.fail(f"{count} runs not finished in {RUNS_TIMEOUT_S} s: {runs}\n{services.logs()}")


def celery_steps(pg: stores.Postgres) -> dict[tuple[str, str], str]:
    """(run id, step) -> the Celery worker that executed it, from the event log in PostgreSQL."""
    rows = pg.query(
        "SELECT run_id, step_key, event FROM event_logs WHERE dagster_event_type = 'ENGINE_EVENT'"
    )
    steps = {}
    for run_id, step_key, event in rows:
        data = deserialize_value(event).dagster_event.engine_event_data
        worker = data.metadata.get("Celery worker")
        if worker is not None:
            steps[(run_id, step_key)] = worker.value
    return steps


def assert_lake_in_bucket(s3_url: str, keys: dict[str, str]) -> None:
    """The raw clips, the sampled JPEG frames and both tables of every clip are in the bucket."""
    s3 = stores.s3_client(s3_url)
    stored = set(stores.bucket_keys(s3_url, BUCKET))
    for name, key in keys.items():
        assert f"lake/raw/{key}/{name}" in stored
        assert f"lake/tables/raw_videos/{key}.parquet" in stored
        table = f"lake/tables/sampled_frames/{key}.parquet"
        assert table in stored
        body = s3.get_object(Bucket=BUCKET, Key=table)["Body"].read()
        frames = pd.read_parquet(io.BytesIO(body))
        jpegs = sorted(k for k in stored if k.startswith(f"lake/frames/{key}/"))
        assert len(frames) == len(jpegs) == 2, (name, jpegs)
        first = s3.get_object(Bucket=BUCKET, Key=jpegs[0])["Body"].read(3)
        assert first == b"\xff\xd8\xff"  # JPEG
