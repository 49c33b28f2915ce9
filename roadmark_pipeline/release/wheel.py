"""The ``jetson_runtime`` wheel that travels inside every release.

The wheel holds the runtime package alone, with project metadata of its own (generated here, in
a temporary folder) so the device installs only what the runtime needs. It is built offline
through pip's build frontend without build isolation, and with a fixed ``SOURCE_DATE_EPOCH``,
so the same runtime code gives the same wheel bytes.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import jetson_runtime

LOG = logging.getLogger(__name__)

DISTRIBUTION = "jetson-runtime"
DEPENDENCIES = ("numpy", "opencv-python-headless", "onnxruntime", "tuf")
REPRODUCIBLE_EPOCH = "315532800"  # 1980-01-01, the earliest time a zip file can hold

PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{name}"
version = "{version}"
description = "roadmark edge runtime: runs a released road-marking detector on a Jetson"
requires-python = ">=3.10"
license = {{ text = "Apache-2.0" }}
dependencies = [{dependencies}]

[project.scripts]
roadmark-edge = "jetson_runtime.cli:main"

[tool.setuptools]
packages = ["jetson_runtime"]
"""


class WheelError(RuntimeError):
    """The runtime wheel could not be built."""


def _stage_project(folder: Path) -> None:
    source = Path(jetson_runtime.__file__).parent
    shutil.copytree(
        source, folder / "jetson_runtime", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    text = PYPROJECT.format(
        name=DISTRIBUTION,
        version=jetson_runtime.__version__,
        dependencies=", ".join(f'"{d}"' for d in DEPENDENCIES),
    )
    (folder / "pyproject.toml").write_text(text, "utf-8")


def build_runtime_wheel(out_dir: Path) -> Path:
    """Build the ``jetson_runtime`` wheel (the runtime package alone) into ``out_dir``.

    Args:
        out_dir: Folder for the wheel; created when missing. A wheel of the same version there
            is replaced.

    Returns:
        The wheel file, ``jetson_runtime-<version>-py3-none-any.whl``.

    Raises:
        WheelError: When the build fails (the message carries pip's last lines).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="jetson-runtime-wheel-") as tmp:
        project, built = Path(tmp) / "project", Path(tmp) / "dist"
        project.mkdir()
        _stage_project(project)
        command = [
            sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps",
            "--no-index", "--wheel-dir", str(built), str(project),
        ]  # fmt: skip
        env = dict(os.environ, SOURCE_DATE_EPOCH=REPRODUCIBLE_EPOCH, PIP_NO_INPUT="1")
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        wheels = sorted(built.glob("*.whl"))
        if done.returncode != 0 or len(wheels) != 1:
            tail = (done.stderr or done.stdout).strip()[-1500:]
            raise WheelError(f"building the jetson_runtime wheel failed: {tail}")
        target = out_dir / wheels[0].name
        tmp_target = out_dir / f".{wheels[0].name}.tmp"
        shutil.copyfile(wheels[0], tmp_target)
        os.replace(tmp_target, target)
    LOG.info("built runtime wheel %s (%d bytes)", target.name, target.stat().st_size)
    return target
