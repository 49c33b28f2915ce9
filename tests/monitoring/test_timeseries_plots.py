"""timeseries_plots: real PNGs from telemetry over days, written atomically."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from roadmark_pipeline.monitoring.plots import timeseries_plots
from tests.monitoring.conftest import make_batch


def history(days: int) -> pd.DataFrame:
    parts = []
    for offset in range(days):
        start = dt.datetime(2025, 3, 1 + offset, 8, tzinfo=dt.UTC)
        parts.append(make_batch(f"a{offset}", 50, start=start, seed=offset))
        parts.append(
            make_batch(f"b{offset}", 30, start=start, camera_model="cam-b", seed=50 + offset)
        )
    return pd.concat(parts, ignore_index=True)


def test_plots_for_ten_days_with_drift_history(tmp_path: Path) -> None:
    drift_history = pd.DataFrame(
        {
            "day": [f"2025-03-{d:02d}" for d in range(1, 11)],
            "drifted_share": np.linspace(0, 0.8, 10),
            "status": ["no_drift"] * 7 + ["drift"] * 3,
            "drift_share_threshold": 0.5,
        }
    )
    paths = timeseries_plots(history(10), tmp_path, drift_history=drift_history)

    assert set(paths) == {"software", "input", "output", "classes", "drift"}
    for path in paths.values():
        image = cv2.imread(str(path))
        assert image is not None and image.shape[1] > 500  # a real, decodable PNG
        assert path.parent == tmp_path
    assert not list(tmp_path.glob(".*tmp"))  # no temporary files left behind


def test_a_few_hours_use_hourly_buckets_and_missing_columns_are_skipped(tmp_path: Path) -> None:
    short = history(1).drop(columns=["gpu_percent", "lat", "lon"])
    short = short.drop(columns=[c for c in short.columns if c.startswith("det_")])
    paths = timeseries_plots(short, tmp_path)
    assert set(paths) == {"software", "input", "output"}


def test_no_rows_no_plots(tmp_path: Path) -> None:
    assert timeseries_plots(pd.DataFrame(), tmp_path) == {}
    assert list(tmp_path.iterdir()) == []


PLOT_IN_A_FRESH_PROCESS = """
import sys
import pandas as pd
from roadmark_pipeline.monitoring.plots import timeseries_plots
assert "matplotlib" not in sys.modules, "importing the plots module imported matplotlib"
rows = pd.DataFrame({"ts": pd.date_range("2025-03-01", periods=30, freq="10min", tz="UTC"),
                     "camera_model": "cam-a", "brightness": range(30)})
print(sorted(timeseries_plots(rows, sys.argv[1])))
"""


def test_plots_write_nothing_in_the_home_folder(tmp_path: Path) -> None:
    # Dagster imports the plots module when it loads the definitions: nothing may land in
    # ~/.config/matplotlib or ~/.cache/matplotlib then, nor when a picture is drawn.
    home, state = tmp_path / "home", tmp_path / "state"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("MPLCONFIGDIR", "YOLO_CONFIG_DIR")}
    env |= {"HOME": str(home), "ROADMARK_HOME": str(state)}
    done = subprocess.run(
        [sys.executable, "-c", PLOT_IN_A_FRESH_PROCESS, str(tmp_path / "plots")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # Only brightness is given: the software and output pictures, with no column, are left out.
    assert done.stdout.strip() == "['input']" and (tmp_path / "plots" / "input.png").is_file()
    assert not list(home.iterdir())
    assert list((state / "ultralytics" / "matplotlib").glob("fontlist-*.json"))
