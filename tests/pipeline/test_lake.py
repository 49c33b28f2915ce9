"""Lake writes are atomic: a failure never destroys what was stored before."""

from __future__ import annotations

import stat

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
