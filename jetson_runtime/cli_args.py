"""The command line of ``roadmark-edge``: its options, and parsing whose errors are one line."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from jetson_runtime import __version__

DESCRIPTION = "roadmark-edge: update, run and inspect the device."
EXIT_USAGE = 2
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line: what is wrong, and where help is."""

    def error(self, message: str) -> NoReturn:  # noqa: D102
        self.exit(EXIT_USAGE, f"{self.prog}: {message}; see '{self.prog} --help'\n")


def _http_url(text: str) -> str:
    if not text.lower().startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"{text!r} is not an http:// or https:// URL")
    return text


def _parser(required: bool = True) -> argparse.ArgumentParser:
    """The command line; ``required=False`` drops every requirement (to find unknown options)."""
    parser = _Parser(prog="roadmark-edge", description=DESCRIPTION)
    parser.add_argument(
        "--log-level", default="INFO", type=str.upper, choices=LOG_LEVELS, help="default INFO"
    )
    parser.add_argument("--version", action="version", version=f"jetson_runtime {__version__}")
    sub = parser.add_subparsers(dest="command", required=required, metavar="{update,run,status}")

    up = sub.add_parser("update", help="fetch, verify, health-check and switch to a new release")
    up.add_argument("--repo", required=required, type=_http_url, help="TUF repository base URL")
    up.add_argument("--device-dir", required=required, type=Path)
    up.add_argument("--channel", default="stable", choices=("stable", "canary"))
    up.add_argument("--trusted-root", type=Path, help="root metadata to trust (first update)")
    up.add_argument(
        "--reprovision",
        action="store_true",
        help="let --trusted-root replace the valid root this device already trusts",
    )
    up.add_argument("--allow-downgrade", action="store_true", help="accept an older release")

    run = sub.add_parser("run", help="run the current release on a source")
    run.add_argument("--device-dir", required=required, type=Path)
    run.add_argument(
        "--source", required=required, help="file, /dev/videoN, rtsp://..., or a pipeline"
    )
    run.add_argument("--every-n", type=int, default=1, help="process one frame in N")
    run.add_argument("--inbox", help="fleet inbox: folder, s3://..., or http(s):// PUT URL")
    run.add_argument("--max-frames", type=int)
    run.add_argument("--device-id", help="this device's id (remembered)")
    run.add_argument("--camera-model", help="the camera's model (remembered)")
    run.add_argument("--gps", type=Path, help="t_ms,lat,lon CSV recorded with the source")
    run.add_argument("--no-evidence", action="store_true", help="keep no evidence frames")
    run.add_argument("--storage-share", type=float, default=0.5, help="largest share of the disk")
    run.add_argument("--provider", choices=("tensorrt", "cuda", "cpu"), help="force a provider")
    run.add_argument("--max-failed-starts", type=int, default=3)

    status = sub.add_parser("status", help="active release, channel, provider, uploads, storage")
    status.add_argument("--device-dir", required=required, type=Path)
    status.add_argument("--json", action="store_true", help="print JSON")

    # No help= : argparse would list the internal command as "==SUPPRESS==".
    health = sub.add_parser("health", description="internal: health-check a staged release")
    health.add_argument("--bundle", required=required, type=Path)
    health.add_argument("--device-dir", required=required, type=Path)
    return parser


def _asks_for_help(argv: Sequence[str]) -> bool:
    return any(
        arg == "-h" or (len(arg) > 2 and ("--help".startswith(arg) or "--version".startswith(arg)))
        for arg in argv
    )


def parse_command_line(argv: Sequence[str]) -> argparse.Namespace:
    """Parse ``argv``, naming an unknown option before any missing required one.

    argparse checks the required options first, so ``roadmark-edge --bogus`` would only say that
    a command is required. A first pass without requirements finds what nothing accepts.
    """
    parser = _parser()
    if not _asks_for_help(argv):
        _, unknown = _parser(required=False).parse_known_args(argv)
        if unknown:
            what = "unknown option" if unknown[0].startswith("-") else "unexpected argument"
            parser.error(f"{what}{'s' if unknown[1:] else ''} {' '.join(unknown)}")
        empty = _empty_argument(argv)
        if empty is not None:
            parser.error(f"{empty} is empty; pass a value (an empty path would mean this folder)")
    return parser.parse_args(argv)


def _empty_argument(argv: Sequence[str]) -> str | None:
    """Name the first empty (or blank) argument, ``--opt=`` included, or return None."""
    for position, token in enumerate(argv):
        option, equals, value = token.partition("=")
        if token.startswith("--") and equals and not value.strip():
            return option
        if not token.strip():
            before = argv[position - 1] if position else ""
            return before if before.startswith("-") else "an argument"
    return None
