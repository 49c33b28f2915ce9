"""The release bundle: what build_release writes, and every way load_bundle refuses a folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from jetson_runtime.bundle import (
    MANIFEST,
    BundleError,
    RuntimeConfig,
    load_bundle,
    version_key,
)
from roadmark_pipeline.release.bundle import ReleaseError, build_release


@pytest.fixture
def release(make_release) -> Path:
    return make_release("1.0.0")


def test_release_holds_everything_the_device_needs(release: Path) -> None:
    bundle = load_bundle(release)
    names = {p.relative_to(release).as_posix() for p in release.rglob("*") if p.is_file()}
    assert names == {
        "manifest.json", "runtime.json", "model.onnx", "probe/expected.json",
        "probe/000_still_solidWhiteCurve.jpg", "probe/001_still_solidWhiteRight.jpg",
        "jetson_runtime-0.1.0-py3-none-any.whl",
    }  # fmt: skip
    assert bundle.version == "1.0.0" and bundle.config.input_size == 160
    assert bundle.lineage == {"dataset": "test", "run": "1.0.0"}
    assert bundle.manifest["min_runtime_version"] == "0.1.0"
    expected = json.loads(bundle.probe_expected_path.read_text())
    assert sum(len(f["detections"]) for f in expected["frames"]) > 0  # a real health check
    assert not list(release.parent.glob(".*"))  # the staging folder is gone


def _corrupt_model(path: Path) -> None:
    data = (path / "model.onnx").read_bytes()
    (path / "model.onnx").write_bytes(data[:100] + b"X" + data[101:])


def _drop_probe(path: Path) -> None:
    (path / "probe" / "expected.json").unlink()


def _truncate_wheel(path: Path) -> None:
    wheel = next(path.glob("*.whl"))
    wheel.write_bytes(wheel.read_bytes()[:1000])


def _manifest_edit(change):
    def edit(path: Path) -> None:
        manifest = json.loads((path / MANIFEST).read_text())
        change(manifest)
        (path / MANIFEST).write_text(json.dumps(manifest))

    return edit


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_corrupt_model, "model.onnx: sha256 differs"),
        (_drop_probe, "expected.json: listed in the manifest but missing"),
        (_truncate_wheel, "truncated or replaced"),
        (lambda p: (p / MANIFEST).write_text("{not json"), "not valid JSON"),
        (lambda p: (p / MANIFEST).unlink(), "the manifest is missing"),
        (_manifest_edit(lambda m: m.pop("version")), "missing field"),
        (_manifest_edit(lambda m: m.update(min_runtime_version="9.0.0")), "needs jetson_runtime"),
        (_manifest_edit(lambda m: m["files"].update({"../x": m["files"]["model.onnx"]})),
         "outside the bundle"),
        (_manifest_edit(lambda m: m.update(version="../../etc")), "not usable as a folder"),
        (lambda p: (p / "runtime.json").write_text("{}"), "runtime.json"),
    ],
)  # fmt: skip
def test_damaged_bundles_are_refused(release: Path, tmp_path: Path, damage, message: str):
    copy = shutil.copytree(release, tmp_path / "copy")
    damage(copy)
    with pytest.raises(BundleError, match=message):
        load_bundle(copy)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"input_size": 100}, "multiple of 32"),
        ({"thresholds": (0.3,)}, "1 thresholds for 6 classes"),
        ({"class_names": ("a", "a", "b", "c", "d", "e")}, "unique"),
        ({"thresholds": (0.3, 0.3, 0.3, 0.3, 0.3, 1.3)}, "0..1"),
    ],
)
def test_runtime_config_is_validated(fields: dict, message: str) -> None:
    base = {
        "model_version": "m", "input_size": 160, "thresholds": (0.3,) * 6,
        "class_names": ("a", "b", "c", "d", "e", "f"),
    }  # fmt: skip
    with pytest.raises(BundleError, match=message):
        RuntimeConfig(**(base | fields))


def test_release_inputs_are_checked(tmp_path, runtime_wheel, probe_images, make_release) -> None:
    good = load_bundle(make_release("1.0.0"))
    args = {
        "onnx_path": good.model_path, "runtime_config": good.config,
        "probe_images": probe_images, "wheel_path": runtime_wheel, "version": "2.0.0",
        "lineage": {},
    }  # fmt: skip
    cases = [
        ({"onnx_path": tmp_path / "none.onnx"}, "no such model"),
        ({"probe_images": []}, "no probe images"),
        ({"probe_images": [tmp_path]}, "not a readable image"),
        ({"wheel_path": good.model_path}, "not a jetson_runtime wheel"),
        ({"version": "bad/version"}, "not usable"),
        ({"runtime_config": RuntimeConfig("m", 320, good.config.class_names, (0.3,) * 6)},
         "runtime.json says"),
        ({"runtime_config": RuntimeConfig("m", 160, ("a", "b"), (0.3, 0.3))}, "2 classes"),
    ]  # fmt: skip
    for change, message in cases:
        with pytest.raises(ReleaseError, match=message):
            build_release(tmp_path / "out", **(args | change))
        assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("older", "newer"),
    [("1.2.0", "1.10.0"), ("2025.0601.120000", "2025.0601.130000"), ("1.0", "1.0.1")],
)
def test_versions_sort_by_number(older: str, newer: str) -> None:
    assert version_key(older) < version_key(newer)
