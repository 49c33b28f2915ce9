"""``roadmark`` sub-commands of the model room.

Run on the real clips, overfit check, export with parity, gate, and the production pointer.
Results are JSON on stdout (ultralytics' console output goes to stderr). A bad input (a file, a
folder or an option value) is one line on stderr naming it and the fix, exit code 2, checked
before any model is trained or exported (:mod:`cli_checks`); folders a failed command created
are removed again. Default folders live in the roadmark state folder (``$ROADMARK_HOME`` or
``./.roadmark``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from roadmark_pipeline.model import cli_checks as checks
from roadmark_pipeline.settings import roadmark_home

LOG = logging.getLogger(__name__)


def _emit(value: Any) -> None:
    """Write a result as JSON on stdout (the command's output, not a log line)."""
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def _train_config(args: argparse.Namespace) -> Any:
    from roadmark_pipeline.model.workflow import DEMO_TRAIN_CONFIG

    changes = {
        "imgsz": args.imgsz,
        "epochs": args.epochs,
        "batch": args.batch,
        "seed": args.seed,
        "weights": args.weights,
        "device": args.device,
    }
    return dataclasses.replace(
        DEMO_TRAIN_CONFIG, **{key: value for key, value in changes.items() if value is not None}
    )


def _library_errors() -> tuple[type[Exception], ...]:
    """The errors the model library raises for bad input, reported as one line."""
    from roadmark_pipeline.model.dataset import DatasetError, SplitError
    from roadmark_pipeline.model.export import ExportError
    from roadmark_pipeline.model.overfit import OverfitError
    from roadmark_pipeline.model.predict import PredictionError
    from roadmark_pipeline.model.silver import SilverDataError
    from roadmark_pipeline.model.training import TrainingError

    return (
        checks.ModelInputError,
        DatasetError,
        SplitError,
        ExportError,
        OverfitError,
        PredictionError,
        SilverDataError,
        TrainingError,
        OSError,
    )


def _run_guarded(prog: str, work: Any, *folders: checks.OutputFolder) -> int:
    """Run ``work()``; a library input error becomes one stderr line and the folders go."""
    try:
        return int(work())
    except _library_errors() as error:
        for folder in folders:
            folder.discard()
        return checks.fail(prog, error)


def _model_run(args: argparse.Namespace) -> int:
    prog = "roadmark model-run"
    work_dir = Path(args.work_dir or roadmark_home() / "model-run")
    out = checks.OutputFolder(work_dir, "model run")
    try:
        checks.data_folder(Path(args.data_dir))
        if args.weights:
            checks.weights_file(Path(args.weights))
        out.prepare()
    except checks.ModelInputError as error:
        return checks.fail(prog, error)
    checks.ultralytics_output_to_stderr()

    def work() -> int:
        from roadmark_pipeline.model.workflow import DEMO_SPLIT_CONFIG, run_on_real_clips

        seed = args.seed or 0
        split = dataclasses.replace(DEMO_SPLIT_CONFIG, test_share=args.test_share, seed=seed)
        result = run_on_real_clips(
            Path(args.data_dir), work_dir, split_config=split, train_config=_train_config(args)
        )
        sys.stdout.write(result.report.to_markdown())
        _emit({key: value for key, value in result.to_dict().items() if key != "evaluation"})
        return 0

    return _run_guarded(prog, work, out)


def _overfit(args: argparse.Namespace) -> int:
    prog = "roadmark overfit-check"
    work = Path(args.work_dir or roadmark_home() / "overfit")
    out = checks.OutputFolder(work, "overfit check")
    try:
        checks.data_folder(Path(args.data_dir))
        out.prepare()
    except checks.ModelInputError as error:
        return checks.fail(prog, error)
    checks.ultralytics_output_to_stderr()

    def run() -> int:
        from roadmark_pipeline.model.overfit import overfit_check
        from roadmark_pipeline.model.silver import load_silver

        frames, boxes = load_silver(Path(args.data_dir), work)
        result = overfit_check(
            frames, boxes, work_dir=work / "overfit", n_frames=args.frames, target_map50=args.target
        )
        _emit(result.to_dict())
        return 0 if result.passed else 1

    return _run_guarded(prog, run, out)


def _export(args: argparse.Namespace) -> int:
    prog = "roadmark export-onnx"
    try:
        weights = checks.weights_file(Path(args.weights))
        images = checks.image_files(args.images or [])
        folder = checks.output_file(Path(args.out))
    except checks.ModelInputError as error:
        return checks.fail(prog, error)

    def work() -> int:
        from roadmark_pipeline.model.export import export_onnx, onnx_parity

        onnx_path = export_onnx(weights, Path(args.out), imgsz=args.imgsz)
        if not images:
            _emit({"onnx": str(onnx_path)})
            return 0
        report = onnx_parity(weights, onnx_path, images, imgsz=args.imgsz)
        _emit({"onnx": str(onnx_path), "parity": report.to_dict()})
        return 0 if report.passed else 1

    return _run_guarded(prog, work, folder)


def _evaluation(path: Path) -> Any:
    """Read an ``evaluation.json``; a file that is not one is a :class:`ModelInputError`."""
    from roadmark_pipeline.model.evaluation import Evaluation

    text = checks.json_file(path)
    try:
        return Evaluation.from_dict(json.loads(text))
    except json.JSONDecodeError as error:
        raise checks.ModelInputError(
            f"{path}: not JSON ({error.msg} at line {error.lineno}); pass an evaluation.json "
            "written by a model run"
        ) from error
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise checks.ModelInputError(
            f"{path}: not an evaluation.json ({type(error).__name__}: {error}); pass the "
            "evaluation.json a model run wrote"
        ) from error


def _gate(args: argparse.Namespace) -> int:
    from roadmark_pipeline.model.gate import gate

    try:
        candidate = _evaluation(Path(args.candidate))
        production = _evaluation(Path(args.production)) if args.production else None
    except checks.ModelInputError as error:
        return checks.fail("roadmark gate", error)
    decision = gate(candidate, production, tolerance=args.tolerance)
    _emit(decision.to_dict())
    return 0 if decision.promote else 1


def _default_registry() -> Path:
    """``<lake>/registry``: the lake is ``$ROADMARK_LAKE`` when local, else ``<home>/lake``."""
    lake = os.environ.get("ROADMARK_LAKE", "")
    return (Path(lake) if lake and "://" not in lake else roadmark_home() / "lake") / "registry"


def _registry(args: argparse.Namespace) -> int:
    from roadmark_pipeline.model.registry import POINTER, ModelRegistry, RegistryError

    root = Path(args.root) if args.root else _default_registry()
    if not (root / POINTER).is_file() and not (root / "history").is_dir():
        what = "not a folder" if root.exists() and not root.is_dir() else "no registry there"
        return checks.fail(
            "roadmark model-registry",
            f"{root}: {what} (no {POINTER}); pass --root <lake>/registry, where promotions go",
        )
    registry = ModelRegistry(root)
    try:
        if args.action == "rollback":
            _emit(registry.rollback(args.note).to_dict())
        elif args.action == "history":
            _emit([entry.to_dict() for entry in registry.history()])
        else:
            entry = registry.production()
            _emit(entry.to_dict() if entry else None)
    except (RegistryError, OSError, ValueError, TypeError) as error:
        return checks.fail("roadmark model-registry", f"{root}: {error}")
    return 0


def _add_training_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--imgsz", type=checks.image_size, help="training image size, a multiple of 32"
    )
    parser.add_argument("--epochs", type=checks.at_least(1), help="epochs (default: demo setting)")
    parser.add_argument("--batch", type=checks.at_least(1), help="batch size")
    parser.add_argument("--seed", type=checks.at_least(0), help="seed of split and training")
    parser.add_argument("--weights", help="local .pt file to fine-tune from (never downloaded)")
    parser.add_argument("--device", type=checks.device, help="auto, cpu or a CUDA index")


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add the model room's commands to the ``roadmark`` parser."""
    home = "$ROADMARK_HOME (./.roadmark)"
    run = subparsers.add_parser(
        "model-run", help="train on the real clips and evaluate on a held-out clip"
    )
    run.add_argument("--data-dir", default="data", help="the repository's data/ folder")
    run.add_argument("--work-dir", default=None, help=f"output folder (default {home}/model-run)")
    run.add_argument(
        "--test-share", type=checks.fraction(high_open=True), default=0.25, help="in (0, 1)"
    )
    _add_training_options(run)
    run.set_defaults(func=_model_run)

    overfit = subparsers.add_parser("overfit-check", help="can the setup memorise ~8 frames?")
    overfit.add_argument("--data-dir", default="data")
    overfit.add_argument("--work-dir", default=None, help=f"default {home}/overfit")
    overfit.add_argument("--frames", type=checks.at_least(1), default=8)
    overfit.add_argument("--target", type=checks.fraction(), default=0.9, help="mAP50 to reach")
    overfit.set_defaults(func=_overfit)

    export = subparsers.add_parser("export-onnx", help="export to ONNX, optionally check parity")
    export.add_argument("weights", help="the .pt file of a training run")
    export.add_argument("out", help="the .onnx file to write")
    export.add_argument("--imgsz", type=checks.image_size, default=640, help="multiple of 32")
    export.add_argument("--images", nargs="*", help="frames for the parity check")
    export.set_defaults(func=_export)

    gate = subparsers.add_parser("gate", help="promotion gate between two evaluation.json")
    gate.add_argument("candidate", help="candidate's evaluation.json")
    gate.add_argument("--production", help="production's evaluation.json (none: first model)")
    gate.add_argument(
        "--tolerance", type=checks.non_negative, default=0.02, help="largest class AP50 drop"
    )
    gate.set_defaults(func=_gate)

    registry = subparsers.add_parser("model-registry", help="show or move the production pointer")
    registry.add_argument("action", choices=["show", "history", "rollback"])
    registry.add_argument("--root", default=None, help=f"default {home}/lake/registry")
    registry.add_argument("--note", default="manual rollback", help="why (rollback)")
    registry.set_defaults(func=_registry)
