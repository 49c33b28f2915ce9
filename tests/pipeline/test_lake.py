"""Lake writes are atomic: a failure never destroys what was stored before."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time

import pandas as pd
import pytest

from roadmark_pipeline import lake


def test_failed_parquet_write_keeps_the_old_table(tmp_path):
    path = tmp_path / "t.parquet"
    lake.write_parquet_atomic(path, pd.DataFrame({"a": [1, 2]}))
    with pytest.raises(Exception):  # noqa: B017 - pyarrow's error type for this is not public
        lake.write_parquet_atomic(path, pd.DataFrame({"a": [object()]}))
    assert lake.read_parquet(path)["a"].tolist() == [1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["t.parquet"]  # no temporary left


def test_staged_dir_swaps_only_on_success_and_is_readable(tmp_path):
    final = tmp_path / "frames"
    with lake.staged_dir(final) as stage:
        (stage / "a.jpg").write_bytes(b"1")
    with pytest.raises(RuntimeError), lake.staged_dir(final) as stage:
        (stage / "b.jpg").write_bytes(b"2")
        raise RuntimeError("crash half-way")
    assert [p.name for p in final.iterdir()] == ["a.jpg"]
    assert [p.name for p in tmp_path.iterdir()] == ["frames"]
    mode = stat.S_IMODE(final.stat().st_mode)
    assert mode & stat.S_IRGRP and mode & stat.S_IXOTH  # not mkdtemp's private 0700


def test_copy_file_atomic_replaces_whole_files(tmp_path):
    source, target = tmp_path / "s.bin", tmp_path / "out" / "t.bin"
    source.write_bytes(b"x" * 100_000)
    lake.copy_file_atomic(source, target)
    assert target.read_bytes() == source.read_bytes()


def test_as_path_keeps_urls_and_expands_local(tmp_path):
    assert str(lake.as_path("s3://bucket/lake")).startswith("s3://bucket/lake")
    assert lake.is_local(lake.as_path(str(tmp_path)))
    assert not lake.is_local(lake.as_path("s3://bucket/lake"))


def test_staged_dir_never_replaces_a_file(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    with pytest.raises(FileExistsError, match="is a file"), lake.staged_dir(target):
        pass
    assert target.read_text() == "keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


# A writer in its own process: it fills a stage of FINAL, says "ready", and swaps when told to.
_WRITER = """
import sys
from pathlib import Path
from roadmark_pipeline import lake
with lake.staged_dir(Path(sys.argv[1])) as stage:
    (stage / "frame.jpg").write_text(sys.argv[2])
    print("ready", flush=True)
    sys.stdin.readline()
"""


def _start_writer(final, text):
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(final), text],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout.readline().strip() == "ready"
    return writer


def _hidden(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_killed_writers_stage_is_removed_by_the_next_run(tmp_path):
    final = tmp_path / "frames"
    writer = _start_writer(final, "killed")
    writer.kill()  # SIGKILL: no finally runs
    writer.wait(timeout=30)
    (left,) = _hidden(tmp_path)
    assert left.startswith(".frames.stage-") and f"-{writer.pid}-" in left

    with lake.staged_dir(final) as stage:
        (stage / "frame.jpg").write_text("new")

    assert _hidden(tmp_path) == []
    assert (final / "frame.jpg").read_text() == "new"


def test_a_concurrent_writers_live_stage_is_left_alone(tmp_path):
    final = tmp_path / "frames"
    other = _start_writer(final, "other")
    try:
        with lake.staged_dir(final) as stage:
            (stage / "frame.jpg").write_text("mine")
        assert len(_hidden(tmp_path)) == 1  # the other writer's stage is still there
        assert (final / "frame.jpg").read_text() == "mine"
    finally:
        other.communicate("go\n", timeout=30)
    assert other.returncode == 0
    assert (final / "frame.jpg").read_text() == "other"  # its swap still worked
    assert _hidden(tmp_path) == []


def test_only_own_stale_leftovers_are_removed(tmp_path):
    final = tmp_path / "frames"
    final.mkdir()
    old_mtime = time.time() - lake.STALE_UNOWNED_S - 60
    legacy_old = tmp_path / ".frames.ab_cd12z"  # mkdtemp name of earlier versions, long untouched
    legacy_new = tmp_path / ".frames.zz9_yy8x"  # the same, but touched just now: may be live
    swapped_out = tmp_path / ".frames.old-0123abcd"
    other_host = tmp_path / ".frames.stage-elsewhere-1-abcdefgh"
    other_target = tmp_path / ".frames2.ab_cd12z"
    not_ours = tmp_path / ".frames.notes"
    for folder in (legacy_old, legacy_new, swapped_out, other_host, other_target, not_ours):
        folder.mkdir()
        (folder / "x.jpg").write_text("x")
    for folder in (legacy_old, swapped_out, other_target, not_ours):
        os.utime(folder / "x.jpg", (old_mtime, old_mtime))
        os.utime(folder, (old_mtime, old_mtime))

    removed = lake.remove_stale_stages(final)

    assert sorted(p.name for p in removed) == [legacy_old.name, swapped_out.name]
    assert _hidden(tmp_path) == sorted(
        p.name for p in (legacy_new, other_host, other_target, not_ours)
    )


def test_a_swap_killed_between_its_renames_gets_the_previous_content_back(tmp_path):
    final = tmp_path / "frames"
    gone = 2**22 + 12345  # a pid beyond the usual limit: no such process
    previous = tmp_path / f".frames.old-{lake._host_tag()}-{gone}-abcd1234"
    stage = tmp_path / f".frames.stage-{lake._host_tag()}-{gone}-efgh5678"
    for folder, text in ((previous, "previous"), (stage, "new")):
        folder.mkdir()
        (folder / "frame.jpg").write_text(text)

    lake.remove_stale_stages(final)

    assert (final / "frame.jpg").read_text() == "previous"  # nothing stored was lost
    assert _hidden(tmp_path) == []
