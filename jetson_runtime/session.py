"""The ONNX Runtime session: provider choice (TensorRT > CUDA > CPU) and the engine cache.

Each provider is a small backend class with the same two questions: can it run here (and if not,
why), and what does ONNX Runtime need to use it. The first backend that can run wins; the choice
and the reason are logged once per process and model.

TensorRT engines are only valid for the GPU architecture and TensorRT version that built them.
The cache folder is therefore keyed by GPU architecture, TensorRT version and model hash, and
carries a stamp of that key: a folder whose stamp does not match (copied from another device,
or left by another version) is emptied and the engine is rebuilt, never loaded.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

LOG = logging.getLogger(__name__)
CACHE_STAMP = "cache_key.json"
_LOGGED: set[tuple[str, str]] = set()


class SessionError(RuntimeError):
    """A model that cannot be opened or does not match its runtime configuration."""


@dataclass(frozen=True)
class HostInfo:
    """What the host offers: ONNX Runtime providers, GPU architecture, TensorRT version.

    Attributes:
        providers: ONNX Runtime's available providers.
        gpu_arch: Compute capability such as ``sm87`` (Jetson Orin), or None without a GPU.
        tensorrt_version: TensorRT library version such as ``10.3.0``, or None.
    """

    providers: tuple[str, ...]
    gpu_arch: str | None
    tensorrt_version: str | None


@dataclass(frozen=True)
class ProviderChoice:
    """The provider picked for a model, with why.

    Attributes:
        name: Short name (``tensorrt``, ``cuda``, ``cpu``).
        providers: What to pass to ``ort.InferenceSession(providers=...)``.
        reason: Why this one (and why not the better ones).
        cache_dir: The TensorRT engine cache in use, if any.
    """

    name: str
    providers: list[Any]
    reason: str
    cache_dir: Path | None = None


def _cuda_arch() -> str | None:
    """Return the first GPU's compute capability through the CUDA driver, or None."""
    for name in ("libcuda.so.1", "libcuda.so"):
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        major, minor, device = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
        if lib.cuInit(0) != 0 or lib.cuDeviceGet(ctypes.byref(device), 0) != 0:
            return None
        lib.cuDeviceGetAttribute(ctypes.byref(major), 75, device)  # COMPUTE_CAPABILITY_MAJOR
        lib.cuDeviceGetAttribute(ctypes.byref(minor), 76, device)  # COMPUTE_CAPABILITY_MINOR
        return f"sm{major.value}{minor.value}"
    return None


def _tensorrt_version() -> str | None:
    """Return the TensorRT library version, from its Python package or its shared library."""
    for dist in ("tensorrt", "tensorrt-cu12", "tensorrt_libs", "tensorrt-cu12-libs"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    for name in ("libnvinfer.so.10", "libnvinfer.so.8", "libnvinfer.so"):
        try:
            code = int(ctypes.CDLL(name).getInferLibVersion())
        except (OSError, AttributeError):
            continue
        if code >= 10000:  # TensorRT 10: major * 10000 + minor * 100 + patch
            return f"{code // 10000}.{code // 100 % 100}.{code % 100}"
        return f"{code // 1000}.{code // 100 % 10}.{code % 100}"
    return None


def probe_host() -> HostInfo:
    """Return what this host offers for inference."""
    providers = tuple(ort.get_available_providers())
    gpu = _cuda_arch() if "CUDAExecutionProvider" in providers else None
    trt = _tensorrt_version() if "TensorrtExecutionProvider" in providers else None
    return HostInfo(providers=providers, gpu_arch=gpu, tensorrt_version=trt)


def engine_cache_key(gpu_arch: str, tensorrt_version: str, model_sha256: str) -> str:
    """Return the engine cache key of a model on a GPU architecture and TensorRT version."""
    text = f"{gpu_arch}|trt{tensorrt_version}|{model_sha256}"
    short = hashlib.sha256(text.encode()).hexdigest()[:12]
    return f"{gpu_arch}-trt{tensorrt_version}-{model_sha256[:16]}-{short}"


def prepare_engine_cache(
    cache_root: Path, gpu_arch: str, tensorrt_version: str, model_sha256: str
) -> Path:
    """Return the engine cache folder for this key, emptied if its stamp does not match.

    Args:
        cache_root: Folder holding one sub-folder per key.
        gpu_arch: GPU architecture, e.g. ``sm87``.
        tensorrt_version: TensorRT version, e.g. ``10.3.0``.
        model_sha256: The model file's sha256.

    Returns:
        The folder to give ONNX Runtime as its engine and timing cache path.
    """
    key = engine_cache_key(gpu_arch, tensorrt_version, model_sha256)
    stamp = {"gpu_arch": gpu_arch, "tensorrt_version": tensorrt_version, "model": model_sha256}
    folder = cache_root / key
    stamp_path = folder / CACHE_STAMP
    try:
        current = json.loads(stamp_path.read_text("utf-8"))
    except (OSError, ValueError):
        current = None
    if current != stamp:
        if folder.exists():
            LOG.warning("engine cache %s was built for %s; rebuilding it", folder, current)
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        stamp_path.write_text(json.dumps(stamp, sort_keys=True), "utf-8")
    return folder


class Backend:
    """A way to run the model; subclasses answer whether it can run here and how."""

    name: ClassVar[str]
    provider: ClassVar[str]

    def unavailable(self, host: HostInfo) -> str | None:
        """Return why this backend cannot run on ``host``, or None when it can."""
        if self.provider not in host.providers:
            return f"ONNX Runtime has no {self.provider} here"
        return None

    def entry(self, host: HostInfo, cache_root: Path, model_sha256: str) -> tuple[Any, Path | None]:
        """Return the provider entry for ``ort.InferenceSession`` and its cache folder."""
        return self.provider, None


class TensorRTBackend(Backend):
    """TensorRT through ONNX Runtime: FP16, engine and timing cache keyed per device."""

    name = "tensorrt"
    provider = "TensorrtExecutionProvider"

    def unavailable(self, host: HostInfo) -> str | None:  # noqa: D102
        reason = super().unavailable(host)
        if reason is None and host.gpu_arch is None:
            reason = "no CUDA GPU answered"
        if reason is None and host.tensorrt_version is None:
            reason = "the TensorRT library version could not be read"
        return reason

    def entry(self, host: HostInfo, cache_root: Path, model_sha256: str) -> tuple[Any, Path | None]:
        """Return the TensorRT entry (FP16, engine and timing caches) and its cache folder."""
        assert host.gpu_arch and host.tensorrt_version
        folder = prepare_engine_cache(
            cache_root, host.gpu_arch, host.tensorrt_version, model_sha256
        )
        options = {
            "trt_fp16_enable": True,
            "trt_engine_cache_enable": True,
            "trt_engine_cache_path": str(folder),
            "trt_timing_cache_enable": True,
            "trt_timing_cache_path": str(folder),
        }
        return (self.provider, options), folder


class CudaBackend(Backend):
    """CUDA through ONNX Runtime."""

    name = "cuda"
    provider = "CUDAExecutionProvider"

    def unavailable(self, host: HostInfo) -> str | None:  # noqa: D102
        reason = super().unavailable(host)
        if reason is None and host.gpu_arch is None:
            reason = "no CUDA GPU answered"
        return reason


class CpuBackend(Backend):
    """ONNX Runtime's CPU provider: always there."""

    name = "cpu"
    provider = "CPUExecutionProvider"


BACKENDS: tuple[Backend, ...] = (TensorRTBackend(), CudaBackend(), CpuBackend())


def provider_problem(name: str, host: HostInfo | None = None) -> str | None:
    """Return why the backend ``name`` cannot run here, or None when it can.

    Args:
        name: A backend name (``tensorrt``, ``cuda``, ``cpu``).
        host: What the host offers; probed when None.
    """
    by_name = {backend.name: backend for backend in BACKENDS}
    if name not in by_name:
        return f"unknown; choose one of {sorted(by_name)}"
    return by_name[name].unavailable(host or probe_host())


def choose_providers(
    host: HostInfo, cache_root: Path, model_sha256: str, prefer: str | None = None
) -> ProviderChoice:
    """Pick the best backend the host can run, best first: TensorRT, CUDA, CPU.

    Args:
        host: What the host offers (see :func:`probe_host`).
        cache_root: Where TensorRT engine caches live.
        model_sha256: The model's sha256 (keys the engine cache).
        prefer: A backend name to force (``cpu`` for tests and benchmarks); None picks the best.

    Returns:
        The choice, with CPU always last in the provider list as ONNX Runtime's fallback.

    Raises:
        SessionError: When ``prefer`` names no known backend or one this host cannot run.
    """
    names = [b.name for b in BACKENDS]
    if prefer is not None and prefer not in names:
        raise SessionError(f"provider {prefer!r} unknown; choose one of {names}")
    skipped = []
    for backend in BACKENDS:
        if prefer is not None and backend.name != prefer:
            continue
        reason = backend.unavailable(host)
        if reason is not None:
            skipped.append(f"not {backend.name}: {reason}")
            continue
        entry, folder = backend.entry(host, cache_root, model_sha256)
        providers = [entry] if backend.name == "cpu" else [entry, "CPUExecutionProvider"]
        why = "; ".join(skipped) if skipped else "the best provider available"
        return ProviderChoice(backend.name, providers, f"{backend.name} ({why})", folder)
    raise SessionError(f"provider {prefer!r} cannot run here: {'; '.join(skipped)}")


@dataclass
class ModelSession:
    """An ONNX Runtime session of a detector with a fixed square input.

    Attributes:
        session: The ONNX Runtime session.
        choice: The provider choice it was made with.
        input_name: Name of the image input.
        input_size: Side of the square input.
    """

    session: ort.InferenceSession
    choice: ProviderChoice
    input_name: str
    input_size: int
    active_providers: list[str] = field(default_factory=list)

    @property
    def provider(self) -> str:
        """The backend actually running the model (``tensorrt``, ``cuda`` or ``cpu``)."""
        by_provider = {b.provider: b.name for b in BACKENDS}
        return by_provider.get(self.active_providers[0], self.active_providers[0])

    def run(self, tensor: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Run the model on one (1, 3, S, S) input and return its first output."""
        return self.session.run(None, {self.input_name: tensor})[0]


def _log_once(model_sha256: str, message: str) -> None:
    key = (model_sha256, message)
    if key not in _LOGGED:
        _LOGGED.add(key)
        LOG.info(message)


def open_session(
    model_path: Path,
    model_sha256: str,
    input_size: int,
    cache_root: Path,
    *,
    prefer: str | None = None,
    threads: int | None = None,
    host: HostInfo | None = None,
    spin: bool = False,
) -> ModelSession:
    """Open the model on the best provider and check its input against the bundle's size.

    Args:
        model_path: The ONNX file.
        model_sha256: Its sha256 (keys the engine cache).
        input_size: The input size the bundle declares.
        cache_root: Where TensorRT engine caches live.
        prefer: Force a backend by name (see :func:`choose_providers`).
        threads: Intra-op threads of the CPU provider; ONNX Runtime's default when None.
        host: What the host offers; probed when None.
        spin: Let ONNX Runtime's idle threads spin-wait. Off by default: spinning threads take
            the cores the decode thread and OpenCV need (``session.run`` measured up to 2x
            slower with spinning on a busy 2-core machine, 10 % faster on a quiet one; see
            docs/edge.md).

    Returns:
        The session.

    Raises:
        SessionError: When the model cannot be loaded or its input is not (1, 3, S, S).
    """
    choice = choose_providers(host or probe_host(), cache_root, model_sha256, prefer)
    ort.disable_telemetry_events()  # no usage events from the sessions this runtime opens
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "1" if spin else "0")
    if threads:
        options.intra_op_num_threads = threads
    try:
        session = ort.InferenceSession(str(model_path), options, providers=choice.providers)
    except Exception as exc:  # ONNX Runtime raises its own untyped errors
        raise SessionError(f"{model_path}: ONNX Runtime cannot load it ({exc})") from exc

    inputs = session.get_inputs()
    shape = list(inputs[0].shape)
    if len(inputs) != 1 or shape[1:] != [3, input_size, input_size]:
        raise SessionError(
            f"{model_path}: input {inputs[0].name} has shape {shape}; runtime.json says "
            f"(1, 3, {input_size}, {input_size}); export the model at that size"
        )
    active = session.get_providers()
    _log_once(model_sha256, f"provider chosen: {choice.reason}; active {active}")
    if active[0] != (
        choice.providers[0] if isinstance(choice.providers[0], str) else choice.providers[0][0]
    ):
        LOG.warning("ONNX Runtime fell back from %s to %s", choice.name, active[0])
    return ModelSession(session, choice, inputs[0].name, input_size, active)


def default_threads() -> int:
    """Return the CPU threads to give ONNX Runtime: all cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)
