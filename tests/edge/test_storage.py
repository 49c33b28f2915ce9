"""The storage rule: over budget, the least useful files go first, and the current and previous
releases never go."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from jetson_runtime.slots import DeviceLayout, point
from jetson_runtime.storage import StoragePolicy, evidence_detections

KB = 1024


def _file(path: Path, size: int, age: float = 0.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))
    return path


@pytest.fixture
def layout(tmp_path: Path) -> DeviceLayout:
    """A device with three releases, telemetry and evidence: 10 items of 10 KiB each-ish."""
    layout = DeviceLayout(tmp_path / "device")
    for age, version in ((300, "0.9.0"), (200, "1.0.0"), (100, "1.1.0")):
        _file(layout.slot(version) / "bundle" / "model.onnx", 10 * KB)
        os.utime(layout.slot(version), (time.time() - age, time.time() - age))
    point(layout.previous_link, layout.slot("1.0.0"))
    point(layout.current_link, layout.slot("1.1.0"))
    _file(layout.spool / "uploaded" / "a_1.parquet", 10 * KB)
    _file(layout.spool / "uploaded" / "a_2.parquet", 10 * KB)
    _file(layout.spool / "pending" / "a_3.parquet", 10 * KB)
    _file(layout.evidence / "20250101T000000Z_0000001_n0.jpg", 9 * KB)
    _file(layout.evidence / "20250101T000000Z_0000001_n0.json", KB)
    _file(layout.evidence / "20250101T000001Z_0000002_n3.jpg", 9 * KB)
    _file(layout.evidence / "20250101T000001Z_0000002_n3.json", KB)
    _file(layout.evidence / "20250101T000002Z_0000003_n0.jpg", 9 * KB)
    _file(layout.evidence / "20250101T000002Z_0000003_n0.json", KB)
    return layout


@pytest.mark.parametrize(
    ("budget_kb", "removed", "lost"),
    [
        (200, [], 0),  # under budget: nothing goes
        (85, ["a_1.parquet"], 0),  # the oldest uploaded batch first
        (75, ["a_1.parquet", "a_2.parquet"], 0),
        (65, ["a_1.parquet", "a_2.parquet", "0.9.0"], 0),  # then a release no pointer holds
        (45, ["a_1.parquet", "a_2.parquet", "0.9.0", "20250101T000000Z_0000001_n0.jpg",
              "20250101T000002Z_0000003_n0.jpg"], 0),  # then evidence without detections
        (25, ["a_1.parquet", "a_2.parquet", "0.9.0", "20250101T000000Z_0000001_n0.jpg",
              "20250101T000002Z_0000003_n0.jpg", "20250101T000001Z_0000002_n3.jpg",
              "a_3.parquet"], 1),  # last resort: even unsent telemetry, logged
    ],
)  # fmt: skip
def test_eviction_order(layout: DeviceLayout, budget_kb: int, removed: list[str], lost: int):
    report = StoragePolicy(layout, max_bytes=budget_kb * KB).enforce()
    assert [Path(p).name for p in report.removed] == removed
    assert report.lost_pending == lost
    assert report.used_bytes == StoragePolicy(layout).used()
    assert (layout.current(), layout.previous()) == (layout.slot("1.1.0"), layout.slot("1.0.0"))
    assert (layout.slot("1.1.0") / "bundle" / "model.onnx").exists()
    assert (layout.slot("1.0.0") / "bundle" / "model.onnx").exists()


def test_protected_releases_survive_an_impossible_budget(layout: DeviceLayout) -> None:
    report = StoragePolicy(layout, max_bytes=1).enforce()
    assert report.over_budget
    assert sorted(p.name for p in layout.releases.iterdir()) == ["1.0.0", "1.1.0"]


def test_default_budget_is_half_the_disk(layout: DeviceLayout) -> None:
    import shutil

    total = shutil.disk_usage(layout.root).total
    assert StoragePolicy(layout).budget() == int(total * 0.5)
    with pytest.raises(ValueError, match="share"):
        StoragePolicy(layout, share=1.5)


@pytest.mark.parametrize(
    ("name", "count"), [("x_0000001_n0.jpg", 0), ("x_0000001_n12.jpg", 12), ("odd.jpg", 0)]
)
def test_evidence_names_carry_detection_counts(name: str, count: int) -> None:
    assert evidence_detections(Path(name)) == count


def test_engine_caches_of_other_models_go_with_old_releases(layout: DeviceLayout) -> None:
    import json

    from jetson_runtime.session import prepare_engine_cache

    for version, sha in (("1.0.0", "a" * 64), ("1.1.0", "b" * 64)):
        manifest = {"files": {"model.onnx": {"sha256": sha}}}
        (layout.slot(version) / "bundle" / "manifest.json").write_text(json.dumps(manifest))
    kept = [
        prepare_engine_cache(layout.engine_cache, "sm87", "10.3.0", s) for s in ("a" * 64, "b" * 64)
    ]
    stale = prepare_engine_cache(layout.engine_cache, "sm87", "10.3.0", "c" * 64)
    _file(stale / "engine.bin", 20 * KB)

    report = StoragePolicy(layout, max_bytes=75 * KB).enforce()
    assert str(stale) in report.removed
    assert all(folder.exists() for folder in kept)
