"""The CUDA / TensorRT path on a real GPU (deselected by ``make test``; run it on a GPU machine
with onnxruntime-gpu: ``pytest -m gpu tests/release/test_gpu.py``)."""

from __future__ import annotations

import time
from pathlib import Path

import onnxruntime as ort
import pytest

from jetson_runtime.bundle import load_bundle
from jetson_runtime.detector import Detector
from jetson_runtime.health import check_health
from jetson_runtime.session import CACHE_STAMP, engine_cache_key, probe_host

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        "CUDAExecutionProvider" not in ort.get_available_providers(),
        reason="needs onnxruntime-gpu and a CUDA GPU",
    ),
]


def test_gpu_provider_is_chosen_and_agrees_with_the_probe_frames(make_release, tmp_path) -> None:
    bundle = load_bundle(make_release("1.0.0"))
    host = probe_host()
    assert host.gpu_arch is not None

    detector = Detector.open(bundle, tmp_path / "cache")
    expected = "tensorrt" if host.tensorrt_version else "cuda"
    assert detector.provider == expected, detector.session.choice.reason
    # Expectations were computed on the CPU; the GPU (FP16 on TensorRT) must agree with them.
    assert check_health(bundle, detector).ok


def test_tensorrt_engine_cache_is_built_once_and_keyed(make_release, tmp_path: Path) -> None:
    host = probe_host()
    if host.tensorrt_version is None:
        pytest.skip("no TensorRT provider")
    bundle = load_bundle(make_release("1.0.0"))
    cache = tmp_path / "cache"

    start = time.perf_counter()
    Detector.open(bundle, cache)(_frame())
    first = time.perf_counter() - start
    folder = cache / engine_cache_key(host.gpu_arch, host.tensorrt_version, bundle.model_sha256)
    engines = sorted(p.name for p in folder.iterdir() if p.name != CACHE_STAMP)
    assert engines, "TensorRT wrote no engine into the keyed cache folder"

    start = time.perf_counter()
    Detector.open(bundle, cache)(_frame())
    second = time.perf_counter() - start
    assert sorted(p.name for p in folder.iterdir() if p.name != CACHE_STAMP) == engines
    print(f"engine build + first frame {first:.2f} s; from cache {second:.2f} s")


def _frame():
    import numpy as np

    return np.full((360, 640, 3), 128, np.uint8)
