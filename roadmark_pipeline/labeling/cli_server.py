"""``roadmark labelstudio start|stop|status`` and ``roadmark ls-simulate``: local Label Studio.

Results go to stdout as one JSON object; bad input (a folder or an option value) gets one line on
stderr, ``roadmark <command>: `` then the input and the fix, exit code 2, and no traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from roadmark_pipeline.cli_support import fail, first_missing
from roadmark_pipeline.labeling.real_issues import FOLD_BY, RealCleanlab

if TYPE_CHECKING:
    from roadmark_pipeline.labeling.server import LabelStudioServer

LOG = logging.getLogger(__name__)

EXIT_NOT_RUNNING = 3
SERVER_PROG = "roadmark labelstudio"
SIMULATE_PROG = "roadmark ls-simulate"


def add_server_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``labelstudio`` and ``ls-simulate`` to the ``roadmark`` command line.

    Args:
        subparsers: The ``roadmark`` parser's sub-command group.
    """
    server = subparsers.add_parser(
        "labelstudio", help="start, stop or check the local Label Studio"
    )
    server.add_argument("action", choices=("start", "stop", "status"))
    server.add_argument(
        "--data-dir", type=Path, help="server data (default $ROADMARK_HOME/labelstudio)"
    )
    server.add_argument(
        "--port", type=_port, help="port on 127.0.0.1, 1-65535 (default: a free one)"
    )
    server.add_argument(
        "--document-root", type=Path, help="folder served to annotators (default the lake root)"
    )
    server.set_defaults(func=run_labelstudio)

    _add_simulate(subparsers)


def _add_simulate(subparsers: argparse._SubParsersAction) -> None:
    simulate = subparsers.add_parser(
        "ls-simulate",
        help="run a SIMULATED labeling round (simulated annotators) on a local Label Studio",
    )
    simulate.add_argument("work_dir", type=Path, help="frames, server data and results")
    simulate.add_argument("--data-dir", type=Path, default=Path("data"), help="repository data/")
    simulate.add_argument(
        "--annotators", type=_at_least(1), default=3, help="simulated annotators (>= 1)"
    )
    simulate.add_argument(
        "--share", type=_share, default=1.0, help="share of frames overlapped (0-1)"
    )
    simulate.add_argument("--seed", type=_at_least(0), default=0, help="seed of the errors")
    simulate.add_argument(
        "--target", type=_at_least(1), default=500, help="examples wanted per class"
    )
    simulate.add_argument(
        "--issues", type=Path, help="label issues Parquet (frame_id, quality_score, issue_type)"
    )
    simulate.add_argument(
        "--simulated-cleanlab",
        action="store_true",
        help="without --issues: cleanlab on annotator 1 with SIMULATED detector predictions",
    )
    simulate.add_argument(
        "--real-cleanlab",
        nargs="?",
        const="block",
        choices=FOLD_BY,
        help="without --issues: cleanlab on annotator 1 with out-of-fold predictions of real "
        "detectors trained here (~7 min); folds hold out runs of frames, frames or drives",
    )
    simulate.add_argument("--folds", type=_at_least(2), default=2, help="K of --real-cleanlab")
    simulate.add_argument("--block-size", type=_at_least(1), default=4, help="frames per run")
    simulate.add_argument("--epochs", type=_at_least(1), default=24, help="fold model epochs")
    simulate.add_argument("--drop", type=_share, default=0.05, help="overlooked-box rate (0-1)")
    simulate.add_argument("--swap", type=_share, default=0.04, help="class-swap rate (0-1)")
    simulate.add_argument("--shift", type=_share, default=0.03, help="badly-located rate (0-1)")
    simulate.add_argument(
        "--review", type=_at_least(0), default=20, help="frames sent back for review"
    )
    simulate.add_argument("--stop", action="store_true", help="stop the server at the end")
    simulate.set_defaults(func=run_ls_simulate)


def run_labelstudio(args: argparse.Namespace) -> int:
    """Start (or reuse), stop, or report the local Label Studio of ``--data-dir``.

    A running server is reused only when ``--port`` and ``--document-root`` (when given) are
    what it runs with; the settings reported are the server's own.

    Returns:
        0; ``status`` returns 3 when no server runs; 2 when the server cannot start, a folder
        cannot be used, or a running server has other settings than those asked for.
    """
    from roadmark_pipeline.labeling.server import LabelStudioServer
    from roadmark_pipeline.settings import roadmark_home

    data_dir = args.data_dir or roadmark_home() / "labelstudio"
    problem = _server_folder_problem(data_dir, args.document_root)
    if problem:
        return fail(SERVER_PROG, problem)
    server = LabelStudioServer(data_dir, port=args.port, document_root=args.document_root)
    if args.action == "stop":
        server.stop()
        sys.stdout.write(json.dumps({"data_dir": str(server.data_dir), "running": False}) + "\n")
        return 0
    if args.action == "status":
        running = server.is_running()
        shown = ("pid", "url", "port", "document_root") if running else ("pid", "url")
        recorded = {k: v for k, v in server.recorded().items() if k in shown}
        info = {"data_dir": str(server.data_dir), "running": running, **recorded}
        sys.stdout.write(json.dumps(info) + "\n")
        return 0 if running else EXIT_NOT_RUNNING
    return _start(server, args.document_root is None and not server.is_running())


def _server_folder_problem(data_dir: Path, document_root: Path | None) -> str | None:
    """Why ``labelstudio`` cannot use these folders: a file, or a document root that is missing."""
    for name, folder in (("--data-dir", data_dir), ("--document-root", document_root)):
        if folder is not None and folder.exists() and not folder.is_dir():
            return f"{folder}: is a file, not a folder; pass a folder as {name}"
    if document_root is not None and not document_root.exists():
        return (
            f"{document_root}: no such folder; pass the existing folder annotators' images are "
            "under as --document-root"
        )
    return None


def _start(server: LabelStudioServer, default_root: bool) -> int:
    """Start or reuse ``server``; with ``default_root``, serve (and make) the lake root."""
    from roadmark_pipeline.labeling.server import LabelStudioError
    from roadmark_pipeline.settings import roadmark_home

    made = None
    try:
        if default_root:
            server.document_root = (roadmark_home() / "lake").resolve()
            made = first_missing(server.document_root)
            server.document_root.mkdir(parents=True, exist_ok=True)
        server.start()
    except (LabelStudioError, OSError) as error:
        if made is not None and not server.pid:  # the server never ran: nothing of value there
            shutil.rmtree(made, ignore_errors=True)
        return fail(SERVER_PROG, _server_error(error, server.data_dir))
    root = server.document_root
    info = {
        "url": server.url,
        "pid": server.pid,
        "port": server.port,
        "data_dir": str(server.data_dir),
        "document_root": str(root) if root is not None else None,
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
    from roadmark_pipeline.model.label_quality import LabelQualityError

    problem = _simulate_input_problem(args.data_dir, args.work_dir)
    if args.real_cleanlab and args.simulated_cleanlab:
        problem = "--real-cleanlab and --simulated-cleanlab exclude each other; pass one"
    if problem:
        return fail(SIMULATE_PROG, problem)
    real_cleanlab = args.real_cleanlab and RealCleanlab.from_options(
        args.real_cleanlab, args.folds, args.block_size, args.epochs
    )
    issues = None
    if args.issues is not None:
        try:
            issues = pd.read_parquet(args.issues)
        except (OSError, ValueError) as error:
            return fail(
                SIMULATE_PROG, f"{args.issues}: cannot read as Parquet ({error}); pass label_issues"
            )
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
            real_cleanlab=real_cleanlab,
            n_review=args.review,
        )
    except (LabelStudioError, OSError) as error:
        return fail(SIMULATE_PROG, _server_error(error, args.work_dir))
    except LabelQualityError as error:
        return fail(SIMULATE_PROG, f"--real-cleanlab: {error}")
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


def _simulate_input_problem(data_dir: Path, work_dir: Path) -> str | None:
    """Why ``ls-simulate`` cannot run on these folders (checked before a server starts)."""
    if not (data_dir / "labels" / "annotations.labelstudio.json").is_file():
        return (
            f"{data_dir}: no labels/annotations.labelstudio.json; pass the repository's data/ "
            "folder as --data-dir"
        )
    if work_dir.exists() and not work_dir.is_dir():
        return f"{work_dir}: is a file, not a folder; pass a folder as WORK_DIR"
    return None


def _server_error(error: Exception, folder: Path) -> str:
    if isinstance(error, OSError):
        reason = error.strerror or str(error)
        return f"{folder}: cannot write there ({reason}); pass a folder you can create and write"
    return " ".join(str(error).split())


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r}: pass a port number within 1-65535, e.g. 8080")
    return value


def _at_least(low: int) -> Callable[[str], int]:
    def whole(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low:
            raise argparse.ArgumentTypeError(f"{text!r}: pass a whole number >= {low}")
        return value

    return whole


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r}: pass a share within 0-1, e.g. 0.05")
    return value
