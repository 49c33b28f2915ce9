"""Shared fixtures: paths to the shipped data and the shared failure cases."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
CASES = Path(__file__).resolve().parent / "data" / "cases"

# Nothing may download at test time, and nothing is written outside temporary folders:
# ultralytics and matplotlib get private config dirs before any test module imports them.
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
_PRIVATE = Path(tempfile.mkdtemp(prefix="roadmark-tests-"))
os.environ.setdefault("YOLO_CONFIG_DIR", str(_PRIVATE / "ultralytics"))
os.environ.setdefault("MPLCONFIGDIR", str(_PRIVATE / "matplotlib"))


@pytest.fixture(scope="session")
def cases_dir() -> Path:
    """The shared failure cases (tests/data/cases/R01 ...), each with an EXPECTED.txt."""
    return CASES


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real data shipped with the repository (clips, stills, labels)."""
    return DATA
