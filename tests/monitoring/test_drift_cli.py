"""roadmark drift REFERENCE CURRENT OUT_DIR, through the real command line in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd


def roadmark(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "roadmark_pipeline.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


def test_cli_prints_the_verdict(
    clip_metrics: pd.DataFrame, shifted_metrics: pd.DataFrame, tmp_path: Path
) -> None:
    clip_metrics.iloc[::2].to_parquet(tmp_path / "reference.parquet")
    shifted_metrics.to_parquet(tmp_path / "current.parquet")

    done = roadmark(
        "drift",
        str(tmp_path / "reference.parquet"),
        str(tmp_path / "current.parquet"),
        str(tmp_path / "out"),
        "--day",
        "2025-03-14",
        "--workspace",
        str(tmp_path / "ws"),
    )

    assert done.returncode == 0, done.stderr
    verdict = json.loads(done.stdout)
    assert verdict["status"] == "drift" and verdict["segments"] == {"other-cam": "drift"}
    assert verdict["event_key"].startswith("drift-2025-03-14-")
    assert Path(verdict["html"]).exists()
    assert json.loads(Path(verdict["json"]).read_text())["status"] == "drift"
    assert len(list((tmp_path / "ws").glob("*/snapshots/*.json"))) == 2  # overall + other-cam


def test_cli_fail_on_drift_and_unreadable_input(clip_metrics: pd.DataFrame, tmp_path: Path):
    clip_metrics.to_parquet(tmp_path / "reference.parquet")
    (tmp_path / "current.parquet").write_text("not parquet")
    bad = roadmark(
        "drift",
        str(tmp_path / "reference.parquet"),
        str(tmp_path / "current.parquet"),
        str(tmp_path / "out"),
    )
    assert bad.returncode == 2 and "current.parquet" in bad.stderr

    shifted = clip_metrics.assign(brightness=clip_metrics["brightness"] / 3)
    shifted = shifted.assign(contrast=shifted["contrast"] / 3, blur=shifted["blur"] / 9)
    shifted.to_parquet(tmp_path / "current.parquet")
    flagged = roadmark(
        "drift",
        str(tmp_path / "reference.parquet"),
        str(tmp_path / "current.parquet"),
        str(tmp_path / "out"),
        "--fail-on-drift",
    )
    assert flagged.returncode == 1, flagged.stderr
    assert json.loads(flagged.stdout)["flagged"] is True
