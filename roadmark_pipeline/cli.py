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

from roadmark_pipeline.cli_support import OneLineParser, fail

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
    argv = list(sys.argv[1:] if argv is None else argv)
    args, extras = build_parser().parse_known_args(argv)
    command = f"roadmark {args.command}" if args.command else "roadmark"
    problem = _argument_problem(argv, extras, command)
    if problem is not None:
        return fail(command, problem)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )

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


def _argument_problem(argv: list[str], extras: list[str], command: str) -> str | None:
    """Say what is wrong with the arguments argparse accepted, or None.

    Unknown arguments are reported by the sub-command they were given to, and an empty
    argument is refused: as a path it would silently mean the current folder.
    """
    if not command.startswith("roadmark "):
        return "no command given; see roadmark --help for the commands"
    if extras:
        return f"unrecognized arguments: {' '.join(extras)}; see {command} --help"
    for position, token in enumerate(argv):
        option = token.partition("=")[0] if token.startswith("--") and "=" in token else None
        if token.strip() and not (option and not token.partition("=")[2].strip()):
            continue
        before = argv[position - 1] if position else ""
        named = option or (before if before.startswith("-") else "a positional")
        return f"{named} argument is empty; pass a value (an empty path would mean this folder)"
    return None


if __name__ == "__main__":
    sys.exit(main())
