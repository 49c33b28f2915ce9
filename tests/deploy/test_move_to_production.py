"""docs/deploy.md's move from the local setup to PostgreSQL and S3, step by step.

A local lake with a SQLite instance ingests two trimmed real clips; ``roadmark lake move`` copies
the lake to moto's S3 server; a new PostgreSQL instance gets the ``sources`` partitions back from
the lake's source registry. Then the landing sensor, seeing the same landed clips, asks for
nothing, and the moved tables load through the new instance. Without the re-added partitions
it would ingest both clips again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import pytest

from tests.conftest import DATA
from tests.deploy import services as sv
from tests.deploy import stores
from tests.s3server import DUMMY_CREDENTIALS

pytestmark = pytest.mark.integration

BUCKET = "roadmark-moved"
CLIPS = ("test_video.mp4", "project_video_cut.mp4")

INGEST_LOCALLY = """
from assets.resources import LakeResource, LandingZoneResource
from roadmark_pipeline.demo_steps import DemoContext, tick_and_launch
from sensors.landing import landing_sensor

resources = {"landing": LandingZoneResource(), "lake": LakeResource()}
print(len(tick_and_launch(DemoContext.create(), landing_sensor, resources, "ingest_job")))
"""
# The snippet of docs/deploy.md, as written there.
READD_PARTITIONS = """
import dagster as dg
from assets.resources import LakeResource

keys = [path.stem for path in LakeResource().path("sources").iterdir()]
dg.DagsterInstance.get().add_dynamic_partitions("sources", keys)
"""
TICK = """
import json
import dagster as dg
from assets.resources import LakeResource, LandingZoneResource
from roadmark_pipeline.definitions import defs
from sensors.landing import landing_sensor

instance = dg.DagsterInstance.get()
resources = {"landing": LandingZoneResource(), "lake": LakeResource()}
with dg.build_sensor_context(instance=instance, resources=resources) as context:
    result = landing_sensor(context)
keys = instance.get_dynamic_partitions("sources")
frames = {k: len(defs.load_asset_value("sampled_frames", instance=instance, partition_key=k))
          for k in keys}
print(json.dumps({"requests": len(result.run_requests or []), "frames": frames}))
"""


def python(code: str, env: dict[str, str]) -> str:
    out = subprocess.run(
        [str(sv.VENV_BIN / "python"), "-c", code], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""


@pytest.fixture()
def services(tmp_path):
    with sv.running_services(tmp_path) as started:
        yield started


def test_a_moved_lake_and_a_new_postgres_instance_ingest_nothing_twice(services, tmp_path):
    pg, s3_url = stores.start_postgres(services), stores.start_moto(services)
    stores.s3_client(s3_url).create_bucket(Bucket=BUCKET)
    landing = tmp_path / "landing"
    landing.mkdir()
    for name in CLIPS:
        subprocess.run(
            ["ffmpeg", "-v", "error", "-i", str(DATA / "videos" / name)]
            + ["-frames:v", "30", "-c", "copy", str(landing / name)],
            check=True,
        )
        os.utime(landing / name, (time.time() - 3600,) * 2)  # long settled
    home = tmp_path / "home"
    (home / "dagster").mkdir(parents=True)
    shutil.copyfile(sv.ROOT / "dagster.yaml", home / "dagster/dagster.yaml")
    mirror = tmp_path / "mirror"  # the path every worker of the new setup uses
    common = sv.base_env(
        DUMMY_CREDENTIALS
        | {"AWS_ENDPOINT_URL": s3_url, "ROADMARK_HOME": str(home)}
        | {"ROADMARK_LANDING": str(landing), "ROADMARK_LAKE_MIRROR": str(mirror)}
    )
    local = common | {"DAGSTER_HOME": str(home / "dagster")}
    assert python(INGEST_LOCALLY, local) == str(len(CLIPS))

    moved = subprocess.run(
        [str(sv.VENV_BIN / "roadmark"), "lake", "move", str(home / "lake"), f"s3://{BUCKET}/lake"],
        env=local,
        capture_output=True,
        text=True,
    )
    assert moved.returncode == 0, moved.stderr

    new_home = tmp_path / "dagster_pg"
    new_home.mkdir()
    shutil.copyfile(sv.ROOT / "deploy/postgres/dagster.yaml", new_home / "dagster.yaml")
    production = common | pg.env() | {"DAGSTER_HOME": str(new_home)}
    production |= {"ROADMARK_LAKE": f"s3://{BUCKET}/lake", "ROADMARK_MAX_CONCURRENT_RUNS": "2"}

    without = json.loads(python(TICK, production))
    assert without == {"requests": len(CLIPS), "frames": {}}  # it would ingest them again

    python(READD_PARTITIONS, production)
    after = json.loads(python(TICK, production))
    assert after["requests"] == 0
    assert len(after["frames"]) == len(CLIPS) and all(n > 0 for n in after["frames"].values())
