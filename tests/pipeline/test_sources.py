"""The landing planner: new content once, growing files later, nothing read twice."""

from __future__ import annotations

import pytest

from roadmark_pipeline import sources
from roadmark_pipeline.sources import ListedFile

NOW = 1_000_000.0


def plan(listing, cursor=None, known=None, settle_s=10.0):
    result, to_hash = sources.plan_tick(
        listing, cursor or {}, set(known or ()), now=NOW, settle_s=settle_s, root="/landing"
    )
    return result, to_hash


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("drive/a.mp4", True),
        ("drive/A.MOV", True),
        ("still.jpg", True),
        ("drive/a.mp4.part", False),  # an upload in progress
        ("drive/.a.mp4", False),  # hidden / temporary
        ("drive/a.json", False),  # a sidecar, not a source
        ("drive/a.gpx", False),
    ],
)
def test_candidates(key, expected):
    assert sources.is_candidate(key) is expected


def test_same_content_under_two_names_is_one_source():
    listing = [
        ListedFile("a.mp4", 10, sha256="ab" * 32),
        ListedFile("copy/a.mp4", 10, sha256="ab" * 32),
    ]
    result, to_hash = plan(listing)
    assert to_hash == []
    assert [s.partition_key for s in result.new_sources] == ["ab" * 8]
    assert result.new_sources[0].uri == "/landing/a.mp4"


def test_known_content_is_not_new():
    result, _ = plan([ListedFile("a.mp4", 10, sha256="ab" * 32)], known={"ab" * 8})
    assert result.new_sources == []


@pytest.mark.parametrize(
    ("mtime", "previous_size", "size", "ready"),
    [
        (NOW - 60, None, 100, True),  # quiet for a minute, first seen
        (NOW - 1, None, 100, False),  # modified a second ago: still being written
        (NOW - 60, 50, 100, False),  # grew since the previous tick
        (NOW - 60, 100, 100, True),  # same size as last tick and quiet
        (None, None, 100, True),  # object store: listed means complete
    ],
)
def test_growing_files_wait(mtime, previous_size, size, ready):
    cursor = {"a.mp4": {"size": previous_size}} if previous_size else {}
    result, to_hash = plan([ListedFile("a.mp4", size, mtime=mtime)], cursor=cursor)
    assert (len(to_hash) == 1) is ready
    assert (result.waiting == ["a.mp4"]) is (not ready)


def test_unchanged_file_is_not_hashed_again():
    cursor = {"a.mp4": {"size": 100, "mtime": NOW - 60, "sha256": "cd" * 32}}
    result, to_hash = plan([ListedFile("a.mp4", 100, mtime=NOW - 60)], cursor=cursor)
    assert to_hash == []
    assert [s.sha256 for s in result.new_sources] == ["cd" * 32]


def test_changed_file_is_hashed_again():
    cursor = {"a.mp4": {"size": 100, "mtime": NOW - 600, "sha256": "cd" * 32}}
    _, to_hash = plan([ListedFile("a.mp4", 100, mtime=NOW - 60)], cursor=cursor)
    assert [entry.key for entry in to_hash] == ["a.mp4"]


def test_registry_round_trip_and_missing_key(tmp_path):
    record = sources.SourceRecord("ab" * 8, "ab" * 32, "/landing/a.mp4", 10)
    sources.register(tmp_path, record)
    assert sources.lookup(tmp_path, "ab" * 8) == record
    with pytest.raises(KeyError, match="landing sensor"):
        sources.lookup(tmp_path, "cd" * 8)


def test_store_source_refuses_changed_content(tmp_path):
    landed = tmp_path / "a.mp4"
    landed.write_bytes(b"first content")
    record = sources.SourceRecord("00" * 8, "00" * 32, str(landed), 13)
    with pytest.raises(ValueError, match="content changed after it was listed"):
        sources.store_source(record, tmp_path / "raw")
    assert not (tmp_path / "raw" / ("00" * 8) / "a.mp4").exists()
    assert landed.exists()  # the landed original is never touched


def test_quarantine_keeps_file_and_reason(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    sources.quarantine(bad, tmp_path / "quarantine", "bad.mp4: no video stream")
    assert (tmp_path / "quarantine" / "bad.mp4").read_bytes() == b"not a video"
    assert "no video stream" in (tmp_path / "quarantine" / "bad.mp4.reason.txt").read_text()
    assert bad.exists()


def test_store_source_keeps_sidecars_beside_the_copy(tmp_path):
    from roadmark_pipeline.ids import sha256_file

    landed = tmp_path / "landing" / "drive.mp4"
    landed.parent.mkdir()
    landed.write_bytes(b"video bytes")
    (tmp_path / "landing" / "drive.json").write_text('{"camera_model": "acme-cam-b"}')
    (tmp_path / "landing" / "drive.gpx").write_text("<gpx/>")
    record = sources.SourceRecord("11" * 8, sha256_file(landed), str(landed), 11)

    stored = sources.store_source(record, tmp_path / "raw")
    assert stored.read_bytes() == b"video bytes"
    assert stored.with_suffix(".json").read_text() == '{"camera_model": "acme-cam-b"}'
    assert stored.with_suffix(".gpx").exists()
    assert not stored.with_suffix(".nmea").exists()
