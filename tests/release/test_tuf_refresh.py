"""Unpublished repositories stay trusted: the refresh job re-signs what would expire."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import dagster as dg

from assets.maintenance import tuf_refresh_job
from assets.resources import LakeResource
from roadmark_pipeline.release.tuf_repo import TufRepository


def metadata(repo: TufRepository, name: str) -> dict:
    return json.loads((repo.metadata_dir / name).read_text())["signed"]


def expires(signed: dict) -> datetime:
    return datetime.fromisoformat(signed["expires"].replace("Z", "+00:00"))


def test_timestamp_only_when_nothing_is_close_to_expiry(tmp_path):
    repo = TufRepository(tmp_path / "repository", tmp_path / "keys")
    repo.initialise()
    before = metadata(repo, "timestamp.json")

    assert repo.refresh_expiring() == ["timestamp"]
    after = metadata(repo, "timestamp.json")
    assert after["version"] == before["version"] + 1
    assert after["meta"] == before["meta"]  # still the same snapshot
    assert expires(after) > datetime.now(UTC) + timedelta(hours=23)


def test_snapshot_and_targets_resigned_before_they_expire(tmp_path):
    short = {"snapshot": timedelta(hours=12), "targets": timedelta(days=30)}
    repo = TufRepository(tmp_path / "repository", tmp_path / "keys", expiry=short)
    repo.initialise()
    snapshot_version = metadata(repo, "timestamp.json")["meta"]["snapshot.json"]["version"]

    refreshed = TufRepository(tmp_path / "repository", tmp_path / "keys")  # default lifetimes
    assert refreshed.refresh_expiring(margin=timedelta(days=2)) == [
        "targets",
        "snapshot",
        "timestamp",
    ]
    meta = metadata(refreshed, "timestamp.json")["meta"]["snapshot.json"]
    assert meta["version"] == snapshot_version + 1
    snapshot = metadata(refreshed, f"{meta['version']}.snapshot.json")
    assert expires(snapshot) > datetime.now(UTC) + timedelta(days=6)


def test_refresh_job_runs_against_the_lake(tmp_path):
    lake = LakeResource(root=str(tmp_path))
    # Nothing published yet: the job says so and succeeds.
    assert tuf_refresh_job.execute_in_process(resources={"lake": lake}).success

    repo = TufRepository(tmp_path / "tuf" / "repository", tmp_path / "tuf" / "keys")
    repo.initialise()
    version = metadata(repo, "timestamp.json")["version"]
    with dg.instance_for_test() as instance:
        result = tuf_refresh_job.execute_in_process(resources={"lake": lake}, instance=instance)
    assert result.success
    assert metadata(repo, "timestamp.json")["version"] == version + 1
