"""Build an OTA release folder: model, runtime config, probe frames, runtime wheel, manifest.

The probe frames' expected detections are computed here with the runtime's own session and
decode (:class:`jetson_runtime.detector.Detector` on ONNX Runtime's CPU provider), so the device's
health check compares like with like. The folder is built beside its destination and renamed
into place only when complete and verified by :func:`jetson_runtime.bundle.load_bundle`.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import cv2

import jetson_runtime
from jetson_runtime.bundle import (
    MANIFEST,
    MODEL,
    PROBE_DIR,
    PROBE_EXPECTED,
    RUNTIME_CONFIG,
    Bundle,
    BundleError,
    RuntimeConfig,
    check_version_text,
    load_bundle,
    make_manifest,
    version_key,
)
from jetson_runtime.detector import Detector, detections_to_json
from jetson_runtime.health import DEFAULT_TOLERANCE
from jetson_runtime.session import open_session
from roadmark_pipeline import lake
from roadmark_pipeline.ids import sha256_file

LOG = logging.getLogger(__name__)
_WHEEL_NAME = re.compile(r"^jetson_runtime-(?P<version>[^-]+)-py3-none-any\.whl$")


class ReleaseError(ValueError):
    """A release that cannot be built from these inputs; the message names the input."""


def _wheel_version(wheel_path: Path) -> str:
    match = _WHEEL_NAME.match(wheel_path.name)
    if not match or not wheel_path.is_file():
        raise ReleaseError(
            f"{wheel_path}: not a jetson_runtime wheel; build one with build_runtime_wheel()"
        )
    return match["version"]


def _copy_probes(stage: Path, probe_images: Sequence[Path]) -> list[str]:
    if not probe_images:
        raise ReleaseError("no probe images: pass a few real frames for the health check")
    names = []
    (stage / PROBE_DIR).mkdir()
    for number, image in enumerate(probe_images):
        if cv2.imread(str(image), cv2.IMREAD_COLOR) is None:
            raise ReleaseError(f"{image}: not a readable image; pass JPEG or PNG probe frames")
        name = f"{number:03d}_{Path(image).stem[:40]}{Path(image).suffix.lower()}"
        shutil.copyfile(image, stage / PROBE_DIR / name)
        names.append(name)
    return names


def _expected(stage: Path, config: RuntimeConfig, version: str, names: list[str]) -> dict:
    """Run the probe frames through the runtime's detector and return ``expected.json``."""
    model_sha = sha256_file(stage / MODEL)
    with tempfile.TemporaryDirectory(prefix="probe-cache-") as cache:
        try:
            session = open_session(
                stage / MODEL, model_sha, config.input_size, Path(cache), prefer="cpu"
            )
        except Exception as exc:
            raise ReleaseError(f"{stage / MODEL}: {exc}") from exc
        outputs = session.session.get_outputs()[0].shape
        if len(outputs) != 3 or outputs[1] != 4 + len(config.class_names):
            raise ReleaseError(
                f"model output {outputs} does not fit {len(config.class_names)} classes; "
                "expected (1, 4+nc, anchors)"
            )
        manifest = {"files": {MODEL: {"sha256": model_sha}}}
        detector = Detector(Bundle(stage, version, config, manifest), session)
        frames = []
        for name in names:
            found, _ = detector(cv2.imread(str(stage / PROBE_DIR / name), cv2.IMREAD_COLOR))
            frames.append(
                {"file": name, "detections": detections_to_json(found, config.class_names)}
            )
    return {"model_sha256": model_sha, "tolerance": DEFAULT_TOLERANCE, "frames": frames}


def build_release(
    out_dir: Path,
    *,
    onnx_path: Path,
    runtime_config: RuntimeConfig,
    probe_images: Sequence[Path],
    wheel_path: Path,
    version: str,
    lineage: dict[str, str],
) -> Path:
    """Build a release folder at ``out_dir`` (staged beside it, then renamed into place).

    Args:
        out_dir: The release folder to create (``<lake>/releases/<version>``); an existing one
            is replaced only once the new one is complete.
        onnx_path: The exported model, input (1, 3, S, S) with S = ``runtime_config.input_size``.
        runtime_config: Input size, classes, per-class thresholds, IoU, pre-processing.
        probe_images: Frames for the device's health check.
        wheel_path: The ``jetson_runtime`` wheel to ship (see ``build_runtime_wheel``).
        version: The release version, e.g. ``2025.0601.120000`` (digits, dots, dashes).
        lineage: Dataset version, training run, parent release and the like.

    Returns:
        ``out_dir``, now holding a verified release.

    Raises:
        ReleaseError: When an input is missing or does not fit the others.
    """
    try:
        check_version_text(version)
    except BundleError as exc:
        raise ReleaseError(str(exc)) from exc
    wheel_version = _wheel_version(Path(wheel_path))
    if version_key(wheel_version) < version_key(jetson_runtime.__version__):
        raise ReleaseError(f"{wheel_path}: older than this runtime ({jetson_runtime.__version__})")
    if not Path(onnx_path).is_file():
        raise ReleaseError(f"{onnx_path}: no such model file; export the ONNX model first")

    with lake.staged_dir(Path(out_dir)) as stage:
        shutil.copyfile(onnx_path, stage / MODEL)
        lake.write_json_atomic(stage / RUNTIME_CONFIG, runtime_config.to_json())
        shutil.copyfile(wheel_path, stage / Path(wheel_path).name)
        names = _copy_probes(stage, [Path(p) for p in probe_images])
        expected = _expected(stage, runtime_config, version, names)
        lake.write_json_atomic(stage / PROBE_EXPECTED, expected)
        manifest = make_manifest(
            stage,
            version=version,
            lineage={str(k): str(v) for k, v in lineage.items()},
            min_runtime_version=wheel_version,
            wheel=Path(wheel_path).name,
        )
        lake.write_json_atomic(stage / MANIFEST, manifest)
        load_bundle(stage, runtime_version=wheel_version)
    n_expected = sum(len(f["detections"]) for f in expected["frames"])
    LOG.info(
        "release %s built: %d probe frames, %d expected detections", version, len(names), n_expected
    )
    return Path(out_dir)
