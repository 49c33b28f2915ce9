"""Label issues of a SIMULATED round from real fold models, and the ls-simulate options for it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from roadmark_pipeline.labeling.real_issues import RealCleanlab, real_label_issues
from roadmark_pipeline.labeling.simulate import SimulationConfig, simulate_annotators
from roadmark_pipeline.model.silver import load_silver
from roadmark_pipeline.model.training import TrainConfig
from roadmark_pipeline.model.workflow import DEMO_LABEL_AUDIT_CONFIG

TINY = TrainConfig(imgsz=160, epochs=1, batch=4, nbs=4)


def _roadmark(*args: object) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("roadmark")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "roadmark_pipeline.cli"]
    return subprocess.run([*command, *map(str, args)], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--real-cleanlab", "--simulated-cleanlab"], "exclude each other"),
        (["--real-cleanlab", "clip"], "--real-cleanlab"),
        (["--real-cleanlab", "--folds", "1"], "--folds"),
        (["--real-cleanlab", "--block-size", "0"], "--block-size"),
    ],
)
def test_bad_real_cleanlab_options_are_refused_before_anything_runs(
    tmp_path, data_dir, extra, named
) -> None:
    work = tmp_path / "work"
    done = _roadmark("ls-simulate", work, "--data-dir", data_dir, *extra)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and named in done.stderr
    assert not work.exists()  # no server started, no frame decoded


def test_options_make_the_audit_settings() -> None:
    settings = RealCleanlab.from_options("frame", 3, 5, 7)
    assert (settings.fold_by, settings.folds, settings.block_size) == ("frame", 3, 5)
    assert settings.train_config.epochs == 7
    assert settings.train_config.imgsz == DEMO_LABEL_AUDIT_CONFIG.imgsz
    assert "K=3 by frame" in settings.describe()


def test_real_issues_rank_every_frame_from_models_that_never_saw_it(data_dir, tmp_path) -> None:
    frames, truth = load_silver(data_dir, tmp_path / "silver", clips=["test_video"])
    simulation = simulate_annotators(truth, frames, SimulationConfig(n_annotators=1, seed=3))
    labels = simulation.boxes.drop(columns=["annotator", "borderline"])
    settings = RealCleanlab(folds=2, fold_by="block", block_size=2, train_config=TINY)

    found = real_label_issues(frames, labels, tmp_path / "audit", settings, truth)

    assert sorted(found.issues["frame_id"]) == sorted(frames["frame_id"])
    assert found.issues["quality_score"].between(0.0, 1.0).all()
    assert {"raw_score", "score", "fold"} <= set(found.predictions.columns)
    assert (found.predictions["score"] >= 0).all() and (found.predictions["score"] <= 1).all()
    for fold in (0, 1):
        manifest = next((tmp_path / "audit" / f"fold{fold}" / "dataset").glob("*/manifest.parquet"))
        trained = set(pd.read_parquet(manifest)["frame_id"])
        predicted = set(found.predictions.loc[found.predictions["fold"] == fold, "frame_id"])
        assert trained.isdisjoint(predicted)
    assert 0.0 <= found.figures["oof_map50_vs_truth"] <= 1.0
    assert found.figures["predictions"].startswith("real fold models: K=2 by block")
