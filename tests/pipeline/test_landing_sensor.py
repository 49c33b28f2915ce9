"""The landing sensor, tick by tick: case R20 and a real landing folder."""

from __future__ import annotations

import json
import os
import time

import dagster as dg
import pytest

from assets.partitions import SOURCES
from assets.resources import LakeResource, LandingZoneResource
from roadmark_pipeline import sources
from roadmark_pipeline.sources import ListedFile
from sensors.landing import make_landing_sensor


class ListingFromFile(LandingZoneResource):
    """A landing zone whose listing is read from a JSON file (the R20 case's object listings)."""

    listing_file: str

    def listing(self) -> list[ListedFile]:
        entries = json.loads(open(self.listing_file).read())
        return [ListedFile(e["key"], e["size"], None, e["sha256"]) for e in entries]


def tick(instance, sensor, landing, lake, cursor):
    """Evaluate one tick and apply its partition requests, as the daemon would."""
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"landing": landing, "lake": lake}
    ) as context:
        result = sensor(context)
    for request in result.dynamic_partitions_requests:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def test_r20_duplicates_in_a_tick_and_changed_content(cases_dir, tmp_path):
    sensor = make_landing_sensor()
    lake = LakeResource(root=str(tmp_path / "lake"))
    with dg.instance_for_test() as instance:
        first = tick(
            instance,
            sensor,
            ListingFromFile(
                root="s3://fleet-uploads", listing_file=str(cases_dir / "R20/tick1_listing.json")
            ),
            lake,
            None,
        )
        assert sorted(r.run_key for r in first.run_requests) == ["sha:aa11", "sha:bb22"]
        assert first.cursor and json.loads(first.cursor)  # the cursor advanced

        second = tick(
            instance,
            sensor,
            ListingFromFile(
                root="s3://fleet-uploads", listing_file=str(cases_dir / "R20/tick2_listing.json")
            ),
            lake,
            first.cursor,
        )
        assert [r.run_key for r in second.run_requests] == ["sha:cc33"]
        assert [r.partition_key for r in second.run_requests] == ["cc33"]
        assert sorted(instance.get_dynamic_partitions(SOURCES)) == ["aa11", "bb22", "cc33"]
        record = sources.lookup(lake.path(), "cc33")
        assert record.uri == "s3://fleet-uploads/incoming/2026-12-01/drive_0002.mp4"


def test_real_folder_growing_file_waits_then_runs_once(tmp_path):
    landing_dir = tmp_path / "landing"
    landing_dir.mkdir()
    clip = landing_dir / "drive.mp4"
    clip.write_bytes(b"\x00" * 1000)
    landing = LandingZoneResource(root=str(landing_dir))
    lake = LakeResource(root=str(tmp_path / "lake"))
    sensor = make_landing_sensor(settle_s=5.0)

    with dg.instance_for_test() as instance:
        # Written a moment ago: it may still be growing.
        first = tick(instance, sensor, landing, lake, None)
        assert first.run_requests == []

        old = time.time() - 60
        os.utime(clip, (old, old))
        second = tick(instance, sensor, landing, lake, first.cursor)
        assert len(second.run_requests) == 1
        key = second.run_requests[0].partition_key

        # A copy of the same content under another name, and a re-tick: nothing new.
        (landing_dir / "copy.mp4").write_bytes(clip.read_bytes())
        os.utime(landing_dir / "copy.mp4", (old, old))
        third = tick(instance, sensor, landing, lake, second.cursor)
        assert third.run_requests == []
        assert instance.get_dynamic_partitions(SOURCES) == [key]


@pytest.mark.parametrize("name", ["notes.txt", "drive.mp4.part", ".hidden.mp4", "drive.gpx"])
def test_non_sources_are_ignored(tmp_path, name):
    (tmp_path / name).write_bytes(b"x" * 10)
    old = time.time() - 60
    os.utime(tmp_path / name, (old, old))
    with dg.instance_for_test() as instance:
        result = tick(
            instance,
            make_landing_sensor(),
            LandingZoneResource(root=str(tmp_path)),
            LakeResource(root=str(tmp_path / "lake")),
            None,
        )
    assert result.run_requests == []
