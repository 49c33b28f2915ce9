"""Shared fixtures: paths to the shipped data and the shared failure cases."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
CASES = Path(__file__).resolve().parent / "data" / "cases"

# Nothing may download at test time: ultralytics gets a private config dir and offline flags.
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")


@pytest.fixture(scope="session")
def cases_dir() -> Path:
    """The shared failure cases (tests/data/cases/R01 ...), each with an EXPECTED.txt."""
    return CASES


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real data shipped with the repository (clips, stills, labels)."""
    return DATA
