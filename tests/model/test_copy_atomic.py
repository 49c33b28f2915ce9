"""The lake's atomic file copy that training, export and the registry store model files with."""

from __future__ import annotations

from pathlib import Path

import pytest

from roadmark_pipeline.lake import copy_file_atomic


@pytest.mark.parametrize(
    ("size", "existing"),
    [
        (0, None),  # empty file into a new folder
        (5, b"old content that is longer"),  # shorter file over a longer one
        (3 * 1024 * 1024 + 7, b"x"),  # several copy buffers, not a multiple of one
    ],
)
def test_copy_replaces_whole_and_leaves_no_temporaries(
    tmp_path: Path, size: int, existing: bytes | None
) -> None:
    source = tmp_path / "run" / "best.pt"
    source.parent.mkdir()
    payload = bytes(index % 251 for index in range(size))
    source.write_bytes(payload)
    target = tmp_path / "models" / "m1" / "best.pt"
    if existing is not None:
        target.parent.mkdir(parents=True)
        target.write_bytes(existing)

    copy_file_atomic(source, target)

    assert target.read_bytes() == payload
    assert sorted(path.name for path in target.parent.iterdir()) == ["best.pt"]


def test_failed_copy_keeps_the_stored_file(tmp_path: Path) -> None:
    target = tmp_path / "best.pt"
    target.write_bytes(b"stored")

    with pytest.raises(FileNotFoundError):
        copy_file_atomic(tmp_path / "missing.pt", target)

    assert target.read_bytes() == b"stored"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["best.pt"]
