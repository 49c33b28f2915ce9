"""``roadmark ls-to-yolo``, ``roadmark labelstudio start|stop|status`` and ``roadmark ls-simulate``.

Results go to stdout (one JSON object, or the YOLO summary); bad input gets one line on stderr
naming the file and the fix, and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

LOG = logging.getLogger(__name__)

EXIT_BAD_INPUT = 2
EXIT_NOT_RUNNING = 3


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add the labeling commands to the ``roadmark`` command line.

    Args:
        subparsers: The ``roadmark`` parser's sub-command group.
    """
    to_yolo = subparsers.add_parser(
        "ls-to-yolo",
        help="write YOLO labels and data.yaml from a Label Studio JSON export",
        description="Class ids follow the labeling config's order, never Label Studio's own "
        "YOLO export (which renumbers classes alphabetically).",
    )
    to_yolo.add_argument("export", type=Path, help="Label Studio JSON export (EXPORT.json)")
    to_yolo.add_argument(
        "--label-config", type=Path, required=True, help="the project's labeling config XML"
    )
    to_yolo.add_argument("out_dir", type=Path, help="gets labels/, data.yaml and images.csv")
    to_yolo.set_defaults(func=run_ls_to_yolo)

    server = subparsers.add_parser(
        "labelstudio", help="start, stop or check the local Label Studio"
    )
    server.add_argument("action", choices=("start", "stop", "status"))
    server.add_argument(
        "--data-dir", type=Path, help="server data (default $ROADMARK_HOME/labelstudio)"
    )
    server.add_argument("--port", type=int, help="port on 127.0.0.1 (default: a free one)")
    server.add_argument(
        "--document-root", type=Path, help="folder served to annotators (default the lake root)"
    )
    server.set_defaults(func=run_labelstudio)

    simulate = subparsers.add_parser(
        "ls-simulate",
        help="run a SIMULATED labeling round (simulated annotators) on a local Label Studio",
    )
    simulate.add_argument("work_dir", type=Path, help="frames, server data and results")
    simulate.add_argument("--data-dir", type=Path, default=Path("data"), help="repository data/")
    simulate.add_argument("--annotators", type=int, default=3, help="simulated annotators")
    simulate.add_argument("--share", type=float, default=1.0, help="share of frames overlapped")
    simulate.add_argument("--seed", type=int, default=0, help="seed of the simulated errors")
    simulate.add_argument("--target", type=int, default=500, help="examples wanted per class")
    simulate.add_argument(
        "--issues", type=Path, help="label issues Parquet (frame_id, quality_score, issue_type)"
    )
    simulate.add_argument(
        "--simulated-cleanlab",
        action="store_true",
        help="without --issues: cleanlab on annotator 1 with SIMULATED detector predictions",
    )
    simulate.add_argument("--drop", type=float, default=0.05, help="overlooked-box rate")
    simulate.add_argument("--swap", type=float, default=0.04, help="class-swap rate")
    simulate.add_argument("--shift", type=float, default=0.03, help="badly-located rate")
    simulate.add_argument("--review", type=int, default=20, help="frames sent back for review")
    simulate.add_argument("--stop", action="store_true", help="stop the server at the end")
    simulate.set_defaults(func=run_ls_simulate)


def run_ls_to_yolo(args: argparse.Namespace) -> int:
    """Convert ``args.export`` into YOLO labels under ``args.out_dir``; print a summary line.

    Returns:
        0, or 2 when the export or the config cannot be read.
    """
    from roadmark_pipeline.labeling.config import LabelConfigError
    from roadmark_pipeline.labeling.yolo import export_to_yolo

    try:
        export = json.loads(args.export.read_text("utf-8"))
        config = args.label_config.read_text("utf-8")
        summary = export_to_yolo(export, config, args.out_dir)
    except OSError as error:
        return _fail(f"{error.filename}: cannot read ({error.strerror}); check the path")
    except json.JSONDecodeError as error:
        return _fail(f"{args.export}: not JSON ({error.msg}); export the project as JSON")
    except (LabelConfigError, ValueError) as error:
        return _fail(f"{args.export} / {args.label_config}: {error}")
    line = {
        "out_dir": str(summary.out_dir),
        "names": summary.names,
        "images": summary.n_images,
        "boxes": summary.n_boxes,
        "background": summary.n_background,
        "left_out_unannotated": summary.n_unannotated,
        "left_out_cancelled": summary.n_cancelled,
        "multi_annotation_tasks": summary.n_multi_annotation,
        "degenerate_boxes_dropped": summary.n_degenerate,
    }
    sys.stdout.write(json.dumps(line) + "\n")
    return 0


def run_labelstudio(args: argparse.Namespace) -> int:
    """Start (or reuse), stop, or report the local Label Studio of ``--data-dir``.

    Returns:
        0; ``status`` returns 3 when no server runs; 2 when the server cannot start.
    """
    from roadmark_pipeline.labeling.server import LabelStudioError, LabelStudioServer
    from roadmark_pipeline.settings import roadmark_home

    data_dir = args.data_dir or roadmark_home() / "labelstudio"
    document_root = args.document_root or roadmark_home() / "lake"
    server = LabelStudioServer(data_dir, port=args.port, document_root=document_root)
    if args.action == "stop":
        server.stop()
        sys.stdout.write(json.dumps({"data_dir": str(server.data_dir), "running": False}) + "\n")
        return 0
    if args.action == "status":
        running = server.is_running()
        recorded = {k: v for k, v in server.recorded().items() if k in ("pid", "url")}
        info = {"data_dir": str(server.data_dir), "running": running, **recorded}
        sys.stdout.write(json.dumps(info) + "\n")
        return 0 if running else EXIT_NOT_RUNNING

    document_root.mkdir(parents=True, exist_ok=True)
    try:
        server.start()
    except LabelStudioError as error:
        return _fail(str(error))
    info = {
        "url": server.url,
        "pid": server.pid,
        "data_dir": str(server.data_dir),
        "document_root": str(document_root),
        "login": server.username,
        "password_file": str(server.data_dir / "admin_password"),
        "token_file": str(server.data_dir / "api_token"),
    }
    sys.stdout.write(json.dumps(info) + "\n")
    return 0


def run_ls_simulate(args: argparse.Namespace) -> int:
    """Run a SIMULATED round; print where the summary is and the headline figures.

    Returns:
        0, or 2 on bad input.
    """
    import pandas as pd

    from roadmark_pipeline.labeling.demo import run_simulated_round
    from roadmark_pipeline.labeling.server import LabelStudioError, LabelStudioServer
    from roadmark_pipeline.labeling.simulate import SimulationConfig

    issues = None
    if args.issues is not None:
        try:
            issues = pd.read_parquet(args.issues)
        except (OSError, ValueError) as error:
            return _fail(f"{args.issues}: cannot read as Parquet ({error}); pass label_issues")
    server = LabelStudioServer(args.work_dir / "labelstudio", document_root=args.work_dir / "lake")
    try:
        server.start()
        result = run_simulated_round(
            args.work_dir,
            args.data_dir,
            server=server,
            config=SimulationConfig(
                n_annotators=args.annotators,
                seed=args.seed,
                drop_rate=args.drop,
                swap_rate=args.swap,
                shift_rate=args.shift,
            ),
            share=args.share,
            target=args.target,
            issues=issues,
            simulated_cleanlab=args.simulated_cleanlab,
            n_review=args.review,
        )
    except LabelStudioError as error:
        return _fail(str(error))
    finally:
        if args.stop:
            server.stop()
    figures = {
        "summary": str(result.out_dir / "summary.md"),
        "label_studio": result.url,
        "consensus_vs_shipped": result.report.recovery.get("consensus"),
        "review": result.review,
    }
    sys.stdout.write(json.dumps(figures, default=float) + "\n")
    return 0


def _fail(message: str) -> int:
    sys.stderr.write(message + "\n")
    return EXIT_BAD_INPUT
