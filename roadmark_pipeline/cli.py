"""The ``roadmark`` command line: pipeline chores for scripts and for checking by hand.

Each room of the library contributes its sub-commands through an ``add_commands(subparsers)``
function; heavy imports happen inside the handlers so ``roadmark --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence

from roadmark_pipeline.cli_support import OneLineParser

LOG = logging.getLogger(__name__)

# Modules that contribute sub-commands. Each defines add_commands(subparsers) and sets
# ``func`` (args -> exit code) on every parser it adds.
COMMAND_MODULES = (
    "roadmark_pipeline.video.cli",
    "roadmark_pipeline.labeling.cli",
    "roadmark_pipeline.model.cli",
    "roadmark_pipeline.release.cli",
    "roadmark_pipeline.monitoring.cli",
    "roadmark_pipeline.demo",
    "roadmark_pipeline.lake_move",
)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every room's sub-commands."""
    parser = OneLineParser(
        prog="roadmark",
        description="roadmark: pipeline chores for scripts and for checking by hand.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=OneLineParser
    )
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name != name:
                raise
            continue
        module.add_commands(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``roadmark`` command line.

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` when omitted.

    Returns:
        The process exit code.
    """
    # No calls home from ONNX Runtime, which writes a device id under ~/.cache when imported.
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2

    # SIGTERM (a service manager, a timeout, kill) unwinds like Ctrl+C, so every `finally`
    # (staging folders, child servers) runs: exit 143 for SIGTERM, 130 for Ctrl+C.
    def _terminated(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminated) if in_main_thread else None
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        sys.stderr.write(f"roadmark {args.command}: interrupted\n")
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
