"""The model room's commands through the installed ``roadmark`` console script: every bad input
is one stderr line naming it, exit code 2, nothing written; stdout carries only the JSON; and
nothing lands in the home folder (ultralytics and matplotlib config stay in the state folder)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from roadmark_pipeline.model.evaluation import Evaluation
from roadmark_pipeline.taxonomy import class_names
from tests.cli_helpers import assert_one_line_error

ROADMARK = Path(sys.executable).with_name("roadmark")
HOME_VARIABLES = ("MPLCONFIGDIR", "YOLO_CONFIG_DIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")


@pytest.fixture(scope="module")
def untrained_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real YOLO11n checkpoint with the taxonomy's classes and random weights (no training)."""
    from ultralytics import YOLO
    from ultralytics.nn.tasks import DetectionModel

    names = class_names()
    network = DetectionModel("yolo11n.yaml", nc=len(names), verbose=False)
    network.names = dict(enumerate(names))
    model = YOLO("yolo11n.yaml")
    model.model = network
    path = tmp_path_factory.mktemp("weights") / "untrained.pt"
    model.save(str(path))
    return path


@pytest.fixture
def sandbox(tmp_path: Path) -> dict[str, Path]:
    """A home, a state folder and a working folder, all empty."""
    folders = {name: tmp_path / name for name in ("home", "state", "work")}
    for folder in folders.values():
        folder.mkdir()
    return folders


def roadmark(sandbox: dict[str, Path], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the console script with a private HOME and state folder, from the working folder."""
    env = {key: value for key, value in os.environ.items() if key not in HOME_VARIABLES}
    env |= {"HOME": str(sandbox["home"]), "ROADMARK_HOME": str(sandbox["state"])}
    return subprocess.run(
        [str(ROADMARK), *args],
        cwd=sandbox["work"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def files_under(folder: Path) -> set[Path]:
    return {path for path in folder.rglob("*") if path.is_file()}


def test_export_writes_nothing_in_home_nor_beside_the_weights(
    untrained_weights: Path, sandbox: dict[str, Path], tmp_path: Path
) -> None:
    weights = tmp_path / "weights" / "best.pt"
    weights.parent.mkdir()
    weights.write_bytes(untrained_weights.read_bytes())

    done = roadmark(sandbox, "export-onnx", str(weights), "exported/model.onnx", "--imgsz", "160")

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"onnx": "exported/model.onnx"}  # ultralytics -> stderr
    assert files_under(sandbox["home"]) == set() and not list(sandbox["home"].iterdir())
    config = sandbox["state"] / "ultralytics"
    assert (config / "Ultralytics" / "settings.json").is_file()
    assert (config / "matplotlib").is_dir()
    assert files_under(weights.parent) == {weights}  # no best.onnx beside the weights
    assert files_under(sandbox["work"]) == {sandbox["work"] / "exported" / "model.onnx"}


def _inputs(tmp_path: Path, weights: Path) -> dict[str, str]:
    """Bad and good files the table below names by key."""
    text = tmp_path / "notes.txt"
    text.write_text("not a model\n")
    text_pt = tmp_path / "text.pt"
    text_pt.write_text("not a model\n")
    not_json = tmp_path / "evaluation.json"
    not_json.write_text("{not json")
    other_json = tmp_path / "other.json"
    other_json.write_text(json.dumps({"map50": 0.5}))
    return {
        "WEIGHTS": str(weights),
        "TEXT": str(text),
        "TEXT_PT": str(text_pt),
        "MISSING": str(tmp_path / "nowhere.pt"),
        "FOLDER": str(tmp_path),
        "NOT_JSON": str(not_json),
        "OTHER_JSON": str(other_json),
        "DATA": str(Path(__file__).resolve().parents[2] / "data"),
    }


# (arguments with placeholders, fragments of the one stderr line)
BAD_MODEL_INPUTS = [
    (["export-onnx", "MISSING", "m.onnx"], ["nowhere.pt", "no such file", "best.pt"]),
    (["export-onnx", "TEXT_PT", "m.onnx"], ["text.pt", "not a YOLO weights file"]),
    (["export-onnx", "TEXT", "m.onnx"], ["notes.txt", "not a .pt weights file"]),
    (["export-onnx", "FOLDER", "m.onnx"], ["a folder", "best.pt"]),
    (["export-onnx", "WEIGHTS", "m.onnx", "--imgsz", "100"], ["--imgsz", "multiple of 32"]),
    (["export-onnx", "WEIGHTS", "m.onnx", "--imgsz", "-32"], ["--imgsz", "multiple of 32"]),
    (["export-onnx", "WEIGHTS", "m.onnx", "--imgsz", "big"], ["--imgsz", "'big'"]),
    (["export-onnx", "WEIGHTS", "FOLDER"], ["is a folder", "model.onnx"]),
    (["export-onnx", "WEIGHTS", "TEXT/m.onnx"], ["notes.txt", "not a folder"]),
    (["export-onnx", "WEIGHTS", "m.onnx", "--images", "gone.jpg"], ["gone.jpg", "no such file"]),
    (["export-onnx", "WEIGHTS", "m.onnx", "--images", "TEXT"], ["notes.txt", "not a readable"]),
    (["model-run", "--data-dir", "MISSING"], ["nowhere.pt", "no such folder", "data/"]),
    (["model-run", "--data-dir", "FOLDER"], ["annotations.labelstudio.json", "data/"]),
    (["model-run", "--data-dir", "DATA", "--weights", "MISSING"], ["nowhere.pt", "no such"]),
    (["model-run", "--data-dir", "DATA", "--weights", "TEXT_PT"], ["text.pt", "not a YOLO"]),
    (["model-run", "--data-dir", "DATA", "--imgsz", "33"], ["--imgsz", "multiple of 32"]),
    (["model-run", "--data-dir", "DATA", "--epochs", "0"], ["--epochs", ">= 1"]),
    (["model-run", "--data-dir", "DATA", "--batch", "1.5"], ["--batch", "whole number"]),
    (["model-run", "--data-dir", "DATA", "--test-share", "1"], ["--test-share", "(0, 1)"]),
    (["model-run", "--data-dir", "DATA", "--device", "gpu"], ["--device", "auto, cpu or 0"]),
    (["model-run", "--data-dir", "DATA", "--work-dir", "TEXT"], ["notes.txt", "not a folder"]),
    (["overfit-check", "--data-dir", "FOLDER"], ["annotations.labelstudio.json"]),
    (["overfit-check", "--target", "1.5"], ["--target", "(0, 1]"]),
    (["overfit-check", "--frames", "0"], ["--frames", ">= 1"]),
    (["gate", "MISSING"], ["nowhere.pt", "no such file", "evaluation.json"]),
    (["gate", "NOT_JSON"], ["evaluation.json: not JSON"]),
    (["gate", "OTHER_JSON"], ["other.json: not an evaluation.json"]),
    (["gate", "OTHER_JSON", "--tolerance", "nan"], ["--tolerance", "not finite"]),
    (["model-registry", "show"], ["lake/registry", "no registry there"]),
    (["model-registry", "rollback", "--root", "FOLDER"], ["no registry there"]),
    (["model-registry", "history", "--root", "TEXT"], ["notes.txt", "not a folder"]),
]


def _resolve(argument: str, names: dict[str, str]) -> str:
    """Replace a leading placeholder (``TEXT`` or ``TEXT/m.onnx``) by its path."""
    head, _, rest = argument.partition("/")
    if head not in names:
        return argument
    return f"{names[head]}/{rest}" if rest else names[head]


@pytest.mark.parametrize(("arguments", "fragments"), BAD_MODEL_INPUTS)
def test_bad_inputs_are_one_line_and_leave_nothing(
    untrained_weights: Path,
    sandbox: dict[str, Path],
    tmp_path: Path,
    arguments: list[str],
    fragments: list[str],
) -> None:
    files = tmp_path / "files"
    files.mkdir()
    names = _inputs(files, untrained_weights)
    resolved = [_resolve(arg, names) for arg in arguments]
    before = files_under(tmp_path)

    done = roadmark(sandbox, *resolved)

    assert_one_line_error(done, *fragments)
    created = files_under(tmp_path) - before
    # Only ultralytics' own config may appear, and only inside the state folder.
    assert all(sandbox["state"] / "ultralytics" in path.parents for path in created), created
    assert not list(sandbox["work"].iterdir()) and not list(sandbox["home"].iterdir())


def test_gate_reads_what_a_model_run_writes(sandbox: dict[str, Path], tmp_path: Path) -> None:
    # The good path next to the bad ones: a real evaluation.json gives a decision, exit 0.
    import pandas as pd

    from roadmark_pipeline.model.evaluation import evaluate_detections

    truth = pd.DataFrame(
        [("f0", 0, 0, 0, 10, 10)], columns=["frame_id", "class_id", "x1", "y1", "x2", "y2"]
    )
    preds = truth.assign(score=0.9)
    evaluation = evaluate_detections(
        truth, preds, pd.DataFrame({"frame_id": ["f0"]}), ("white_line",)
    )
    path = tmp_path / "evaluation.json"
    path.write_text(json.dumps(evaluation.to_dict()))
    assert isinstance(Evaluation.from_dict(json.loads(path.read_text())), Evaluation)

    done = roadmark(sandbox, "gate", str(path))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["promote"] is True


def _registry_with_two_models(root: Path) -> None:
    """Promote model a, then model b, through the library (b's predecessor is a)."""
    import pandas as pd

    from roadmark_pipeline.model.evaluation import evaluate_detections
    from roadmark_pipeline.model.gate import gate
    from roadmark_pipeline.model.registry import ModelRegistry

    truth = pd.DataFrame(
        [("f0", 0, 0, 0, 10, 10)], columns=["frame_id", "class_id", "x1", "y1", "x2", "y2"]
    )
    evaluation = evaluate_detections(
        truth, truth.assign(score=0.9), pd.DataFrame({"frame_id": ["f0"]}), ("white_line",)
    )
    registry = ModelRegistry(root)
    for model_id in ("a", "b"):
        weights = root.parent / f"{model_id}.pt"
        weights.write_bytes(model_id.encode() * 10)
        decision = gate(evaluation, registry.production_evaluation())
        registry.promote(weights, evaluation, decision, model_id=model_id)


def test_registry_show_rollback_and_a_broken_history(
    sandbox: dict[str, Path], tmp_path: Path
) -> None:
    root = tmp_path / "lake" / "registry"
    _registry_with_two_models(root)
    shown = roadmark(sandbox, "model-registry", "show", "--root", str(root))
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["model_id"] == "b"

    # The history lost the entry of the model before production: refused in one line.
    for entry in (root / "history").glob("*-a.json"):
        entry.unlink()
    pointer = (root / "production.json").read_text()
    broken = roadmark(sandbox, "model-registry", "rollback", "--root", str(root))
    assert_one_line_error(broken, "no entry for a", "restore history/")
    assert (root / "production.json").read_text() == pointer
