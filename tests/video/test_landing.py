"""The landing zone: files that are still arriving wait, bad files go to quarantine, none is lost.

Runs on a local folder and on fsspec's in-memory file system (the same code path an ``s3://``
prefix takes).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import fsspec
import pytest

from roadmark_pipeline.ids import sha256_file
from roadmark_pipeline.video.landing import (
    content_sha256,
    list_landing,
    quarantine,
    sizes_of,
    stable_entries,
)
from roadmark_pipeline.video.probe import UnreadableSourceError, probe_source
from tests.video.clips import make_clip


@pytest.fixture(params=["local", "memory"])
def landing_root(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "local":
        root = tmp_path / "landing"
        root.mkdir()
        return str(root)
    root = f"memory://landing-{uuid.uuid4().hex[:8]}"
    fsspec.filesystem("memory").makedirs(root, exist_ok=True)
    return root


def _put(root: str, name: str, data: bytes, append: bool = False) -> None:
    with fsspec.open(f"{root}/{name}", "ab" if append else "wb") as handle:
        handle.write(data)


def test_listing_skips_hidden_partial_and_sidecar_files(landing_root: str) -> None:
    for name in (
        "cam1/drive.mp4",
        "still.jpg",
        "drive.gpx",
        "drive.json",
        ".hidden.mp4",
        "upload.mp4.part",
        ".quarantine/old.mp4",
    ):
        _put(landing_root, name, b"x" * 10)

    with_sidecars = list_landing(landing_root, include_sidecars=True)

    names = sorted(entry.key.rsplit("/", 1)[-1] for entry in list_landing(landing_root))
    assert names == ["drive.mp4", "still.jpg"]
    assert sorted(e.key.rsplit("/", 1)[-1] for e in with_sidecars) == [
        "drive.gpx",
        "drive.json",
        "drive.mp4",
        "still.jpg",
    ]
    assert all(entry.size == 10 for entry in with_sidecars)


def test_missing_root_lists_nothing(tmp_path: Path) -> None:
    assert list_landing(str(tmp_path / "not-yet")) == []


def test_a_file_being_appended_to_waits_until_its_size_holds(landing_root: str) -> None:
    _put(landing_root, "drive.mp4", b"a" * 100)
    _put(landing_root, "done.mp4", b"b" * 50)

    # Tick 1: everything is new, nothing is ready.
    tick1 = list_landing(landing_root)
    ready, growing = stable_entries(tick1, {})
    assert ready == [] and len(growing) == 2

    # Tick 2: drive.mp4 grew (the camera is still writing), done.mp4 did not.
    _put(landing_root, "drive.mp4", b"a" * 100, append=True)
    tick2 = list_landing(landing_root)
    ready, growing = stable_entries(tick2, sizes_of(tick1))
    assert [e.key.rsplit("/", 1)[-1] for e in ready] == ["done.mp4"]
    assert [e.key.rsplit("/", 1)[-1] for e in growing] == ["drive.mp4"]

    # Tick 3: drive.mp4 stopped growing.
    tick3 = list_landing(landing_root)
    ready, growing = stable_entries(tick3, sizes_of(tick2))
    assert sorted(e.key.rsplit("/", 1)[-1] for e in ready) == ["done.mp4", "drive.mp4"]
    assert growing == []
    assert {e.key.rsplit("/", 1)[-1]: e.size for e in tick3} == {"done.mp4": 50, "drive.mp4": 200}


def test_same_content_twice_hashes_the_same(landing_root: str) -> None:
    _put(landing_root, "a/drive.mp4", b"same bytes")
    _put(landing_root, "b/copy-of-drive.mp4", b"same bytes")
    _put(landing_root, "c/other.mp4", b"other bytes")

    hashes = [content_sha256(entry.key) for entry in list_landing(landing_root)]

    assert hashes[0] == hashes[1] != hashes[2]


def test_quarantine_moves_with_reason_and_keeps_both_of_two_same_names(
    landing_root: str, tmp_path: Path
) -> None:
    bad_quarantine = f"{landing_root}/.quarantine"
    for attempt in range(2):
        _put(landing_root, "broken.mp4", f"not a video {attempt}".encode())
        entry = list_landing(landing_root)[0]
        quarantine(entry.key, bad_quarantine, "broken.mp4: not a video; pass an H.264 file")

    fs, base = fsspec.core.url_to_fs(bad_quarantine)
    names = sorted(path.rsplit("/", 1)[-1] for path in fs.find(base))
    assert names == [
        "broken-1.mp4",
        "broken-1.mp4.reason.txt",
        "broken.mp4",
        "broken.mp4.reason.txt",
    ]
    assert fs.cat(f"{base}/broken.mp4") == b"not a video 0"
    assert fs.cat(f"{base}/broken-1.mp4") == b"not a video 1"
    assert fs.cat(f"{base}/broken.mp4.reason.txt") == (
        b"broken.mp4: not a video; pass an H.264 file\n"
    )
    assert list_landing(landing_root) == []


def test_unreadable_local_video_goes_to_quarantine_across_file_systems(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "audio_only.mp4").write_text("text pretending to be a video")
    good = make_clip(landing / "good.mp4", count=5)
    target = f"memory://quarantine-{uuid.uuid4().hex[:8]}"

    for entry in list_landing(str(landing)):
        try:
            probe_source(entry.key)
        except UnreadableSourceError as error:
            quarantine(entry.key, target, str(error))

    assert [p.name for p in landing.iterdir()] == ["good.mp4"]
    assert sha256_file(good) == content_sha256(str(good))
    memory = fsspec.filesystem("memory")
    reason = memory.cat(f"{target}/audio_only.mp4.reason.txt").decode()
    assert reason.startswith(f"{landing / 'audio_only.mp4'}: not a video container")
    assert memory.cat(f"{target}/audio_only.mp4") == b"text pretending to be a video"
