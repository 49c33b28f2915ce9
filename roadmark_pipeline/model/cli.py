"""``roadmark`` sub-commands of the model room.

Run on the real clips, overfit check, export with parity, gate, and the production pointer.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path
from typing import Any

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


def _model_run(args: argparse.Namespace) -> int:
    from roadmark_pipeline.model.workflow import DEMO_SPLIT_CONFIG, run_on_real_clips

    split = dataclasses.replace(DEMO_SPLIT_CONFIG, test_share=args.test_share, seed=args.seed or 0)
    result = run_on_real_clips(
        Path(args.data_dir),
        Path(args.work_dir),
        split_config=split,
        train_config=_train_config(args),
    )
    sys.stdout.write(result.report.to_markdown())
    _emit({key: value for key, value in result.to_dict().items() if key != "evaluation"})
    return 0


def _overfit(args: argparse.Namespace) -> int:
    from roadmark_pipeline.model.overfit import overfit_check
    from roadmark_pipeline.model.silver import load_silver

    work = Path(args.work_dir)
    frames, boxes = load_silver(Path(args.data_dir), work)
    result = overfit_check(
        frames, boxes, work_dir=work / "overfit", n_frames=args.frames, target_map50=args.target
    )
    _emit(result.to_dict())
    return 0 if result.passed else 1


def _export(args: argparse.Namespace) -> int:
    from roadmark_pipeline.model.export import export_onnx, onnx_parity

    onnx_path = export_onnx(Path(args.weights), Path(args.out), imgsz=args.imgsz)
    if not args.images:
        _emit({"onnx": str(onnx_path)})
        return 0
    report = onnx_parity(
        Path(args.weights), onnx_path, [Path(p) for p in args.images], imgsz=args.imgsz
    )
    _emit({"onnx": str(onnx_path), "parity": report.to_dict()})
    return 0 if report.passed else 1


def _gate(args: argparse.Namespace) -> int:
    from roadmark_pipeline.model.evaluation import Evaluation
    from roadmark_pipeline.model.gate import gate

    candidate = Evaluation.from_dict(json.loads(Path(args.candidate).read_text()))
    production = (
        Evaluation.from_dict(json.loads(Path(args.production).read_text()))
        if args.production
        else None
    )
    decision = gate(candidate, production, tolerance=args.tolerance)
    _emit(decision.to_dict())
    return 0 if decision.promote else 1


def _registry(args: argparse.Namespace) -> int:
    from roadmark_pipeline.model.registry import ModelRegistry

    registry = ModelRegistry(Path(args.root))
    if args.action == "rollback":
        _emit(registry.rollback(args.note).to_dict())
    elif args.action == "history":
        _emit([entry.to_dict() for entry in registry.history()])
    else:
        entry = registry.production()
        _emit(entry.to_dict() if entry else None)
    return 0


def _add_training_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--imgsz", type=int, help="training image size (default: demo setting)")
    parser.add_argument("--epochs", type=int, help="epochs (default: demo setting)")
    parser.add_argument("--batch", type=int, help="batch size")
    parser.add_argument("--seed", type=int, help="seed of split and training")
    parser.add_argument("--weights", help="local .pt file to fine-tune from (never downloaded)")
    parser.add_argument("--device", help="auto, cpu or a CUDA index")


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add the model room's commands to the ``roadmark`` parser."""
    run = subparsers.add_parser(
        "model-run", help="train on the real clips and evaluate on a held-out clip"
    )
    run.add_argument("--data-dir", default="data", help="the repository's data/ folder")
    run.add_argument("--work-dir", default=".roadmark/model-run", help="output folder")
    run.add_argument("--test-share", type=float, default=0.25, help="target test share")
    _add_training_options(run)
    run.set_defaults(func=_model_run)

    overfit = subparsers.add_parser("overfit-check", help="can the setup memorise ~8 frames?")
    overfit.add_argument("--data-dir", default="data")
    overfit.add_argument("--work-dir", default=".roadmark/overfit")
    overfit.add_argument("--frames", type=int, default=8)
    overfit.add_argument("--target", type=float, default=0.9, help="mAP50 to reach")
    overfit.set_defaults(func=_overfit)

    export = subparsers.add_parser("export-onnx", help="export to ONNX, optionally check parity")
    export.add_argument("weights")
    export.add_argument("out")
    export.add_argument("--imgsz", type=int, default=640)
    export.add_argument("--images", nargs="*", help="frames for the parity check")
    export.set_defaults(func=_export)

    gate = subparsers.add_parser("gate", help="promotion gate between two evaluation.json")
    gate.add_argument("candidate", help="candidate's evaluation.json")
    gate.add_argument("--production", help="production's evaluation.json (none: first model)")
    gate.add_argument("--tolerance", type=float, default=0.02, help="largest class AP50 drop")
    gate.set_defaults(func=_gate)

    registry = subparsers.add_parser("model-registry", help="show or move the production pointer")
    registry.add_argument("action", choices=["show", "history", "rollback"])
    registry.add_argument("--root", default=".roadmark/lake/registry")
    registry.add_argument("--note", default="manual rollback", help="why (rollback)")
    registry.set_defaults(func=_registry)
