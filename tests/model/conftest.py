"""Fixtures of the model room: offline ultralytics and small slices of the real labelled frames."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from roadmark_pipeline.model.offline import configure_ultralytics
from roadmark_pipeline.model.silver import load_silver


@pytest.fixture(scope="session", autouse=True)
def ultralytics_offline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every test of this room runs ultralytics offline with a private config folder."""
    folder = tmp_path_factory.mktemp("ultralytics_config")
    configure_ultralytics(folder)
    return folder


@pytest.fixture(scope="session")
def silver_all(data_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """All 113 real labelled frames (frames, boxes); decoding them takes about 2 s."""
    return load_silver(data_dir, tmp_path_factory.mktemp("silver"))


def subset(
    tables: tuple[pd.DataFrame, pd.DataFrame], frame_ids
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep the given frames and their boxes."""
    frames, boxes = tables
    keep = frames["frame_id"].isin(list(frame_ids))
    return frames[keep].reset_index(drop=True), boxes[boxes["frame_id"].isin(list(frame_ids))]
