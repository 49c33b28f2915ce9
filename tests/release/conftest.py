"""Fixtures of the release room: a tiny real ONNX model, releases, a TUF repository served on
127.0.0.1 by a real static HTTP server, and the device CLI run as a child process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from jetson_runtime.bundle import RuntimeConfig
from roadmark_pipeline.localserve import StaticServer
from roadmark_pipeline.release.bundle import build_release
from roadmark_pipeline.release.tuf_repo import TufRepository
from roadmark_pipeline.release.wheel import build_runtime_wheel
from roadmark_pipeline.taxonomy import class_names

from .tiny_model import build_tiny_detector

ROOT = Path(__file__).resolve().parents[2]
THRESHOLDS = (0.4, 0.3, 0.3, 0.3, 0.3, 0.3)


@pytest.fixture(scope="session")
def runtime_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_runtime_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="session")
def probe_images(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "stills").glob("*.jpg"))[:2]


@pytest.fixture
def make_release(
    tmp_path: Path, runtime_wheel: Path, probe_images: list[Path]
) -> Callable[..., Path]:
    """Build a release of the tiny model; ``scale`` changes its weights (a different model)."""

    def build(version: str, scale: float = 1.0, thresholds=THRESHOLDS) -> Path:
        onnx_path = build_tiny_detector(tmp_path / "models" / f"{version}.onnx", scale=scale)
        config = RuntimeConfig(version, 160, class_names(), thresholds)
        return build_release(
            tmp_path / "releases" / version,
            onnx_path=onnx_path,
            runtime_config=config,
            probe_images=probe_images,
            wheel_path=runtime_wheel,
            version=version,
            lineage={"dataset": "test", "run": version},
        )

    return build


@pytest.fixture
def repository(tmp_path: Path) -> TufRepository:
    repo = TufRepository(tmp_path / "tuf" / "repo", tmp_path / "tuf" / "keys")
    repo.initialise()
    return repo


@pytest.fixture
def server(repository: TufRepository) -> Iterator[StaticServer]:
    static = StaticServer(repository.repo_dir).start()
    yield static
    static.stop()


@dataclass
class EdgeResult:
    returncode: int
    out: dict
    stderr: str


def edge_command() -> list[str]:
    """The installed ``roadmark-edge`` console script (``python -m`` before it is installed)."""
    script = Path(sys.executable).parent / "roadmark-edge"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "jetson_runtime.cli"]


@pytest.fixture
def edge() -> Callable[..., EdgeResult]:
    """Run ``roadmark-edge`` as a child process, the way an operator does."""

    def call(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> EdgeResult:
        done = subprocess.run(
            [*edge_command(), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
        )
        try:
            out = json.loads(done.stdout) if done.stdout.strip() else {}
        except json.JSONDecodeError:
            out = {"text": done.stdout}
        return EdgeResult(done.returncode, out, done.stderr)

    return call


@pytest.fixture
def device(tmp_path: Path) -> Path:
    return tmp_path / "device"


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
