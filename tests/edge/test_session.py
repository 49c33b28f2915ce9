"""Provider choice (TensorRT > CUDA > CPU, with the reason) and the engine cache keying; the
GPU paths themselves run in tests/release/test_gpu.py on a machine with a GPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jetson_runtime.session import (
    CACHE_STAMP,
    HostInfo,
    SessionError,
    choose_providers,
    engine_cache_key,
    prepare_engine_cache,
    probe_host,
)

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TRT = "TensorrtExecutionProvider"
SHA = "ab" * 32


@pytest.mark.parametrize(
    ("host", "name", "reason"),
    [
        (HostInfo((TRT, CUDA, CPU), "sm87", "10.3.0"), "tensorrt", "best provider available"),
        (HostInfo((TRT, CUDA, CPU), "sm87", None), "cuda", "TensorRT library version"),
        (HostInfo((CUDA, CPU), "sm87", None), "cuda", f"no {TRT}"),
        (HostInfo((TRT, CUDA, CPU), None, "10.3.0"), "cpu", "no CUDA GPU answered"),
        (HostInfo(("AzureExecutionProvider", CPU), None, None), "cpu", f"no {CUDA}"),
    ],
)
def test_best_available_provider_wins(host: HostInfo, name: str, reason: str, tmp_path: Path):
    choice = choose_providers(host, tmp_path, SHA)
    assert choice.name == name and reason in choice.reason
    assert choice.providers[-1] == CPU  # ONNX Runtime's fallback stays last


def test_tensorrt_options_fp16_and_keyed_cache(tmp_path: Path) -> None:
    choice = choose_providers(HostInfo((TRT, CUDA, CPU), "sm87", "10.3.0"), tmp_path, SHA)
    provider, options = choice.providers[0]
    assert provider == TRT and options["trt_fp16_enable"] and options["trt_engine_cache_enable"]
    assert options["trt_engine_cache_path"] == str(choice.cache_dir)
    assert choice.cache_dir.name == engine_cache_key("sm87", "10.3.0", SHA)


def test_forcing_a_provider(tmp_path: Path) -> None:
    gpu = HostInfo((TRT, CUDA, CPU), "sm87", "10.3.0")
    assert choose_providers(gpu, tmp_path, SHA, prefer="cpu").providers == [CPU]
    with pytest.raises(SessionError, match="unknown"):
        choose_providers(gpu, tmp_path, SHA, prefer="openvino")
    with pytest.raises(SessionError, match="cannot run here"):
        choose_providers(HostInfo((CPU,), None, None), tmp_path, SHA, prefer="tensorrt")


@pytest.mark.parametrize(
    "other",
    [("sm72", "10.3.0", SHA), ("sm87", "8.6.2", SHA), ("sm87", "10.3.0", "cd" * 32)],
)
def test_cache_key_changes_with_each_part(other: tuple[str, str, str]) -> None:
    assert engine_cache_key("sm87", "10.3.0", SHA) != engine_cache_key(*other)
    assert engine_cache_key("sm87", "10.3.0", SHA) == engine_cache_key("sm87", "10.3.0", SHA)


def test_a_cache_built_elsewhere_is_rebuilt_not_loaded(tmp_path: Path) -> None:
    folder = prepare_engine_cache(tmp_path, "sm87", "10.3.0", SHA)
    (folder / "model.engine").write_bytes(b"engine for this device")
    assert prepare_engine_cache(tmp_path, "sm87", "10.3.0", SHA) == folder
    assert (folder / "model.engine").exists()  # same key, same stamp: reused

    # A folder with the right name but another device's stamp (copied over): emptied.
    stamp = json.loads((folder / CACHE_STAMP).read_text())
    (folder / CACHE_STAMP).write_text(json.dumps(stamp | {"gpu_arch": "sm72"}))
    assert prepare_engine_cache(tmp_path, "sm87", "10.3.0", SHA) == folder
    assert not (folder / "model.engine").exists()
    assert json.loads((folder / CACHE_STAMP).read_text()) == stamp


def test_this_host_is_probed_without_a_gpu() -> None:
    host = probe_host()
    assert CPU in host.providers
    if CUDA not in host.providers:
        assert host.gpu_arch is None and host.tensorrt_version is None
