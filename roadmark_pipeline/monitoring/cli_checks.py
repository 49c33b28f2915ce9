"""Input checks of the monitoring commands, made before any work starts.

Every bad argument or file of ``roadmark drift`` / ``roadmark drift-ui`` ends as one line on
stderr that names the input and the fix, exit code 2, and nothing left behind: option values are
checked by argparse types, tables and folders here, before a report is computed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from roadmark_pipeline import cli_support
from roadmark_pipeline.cli_support import EXIT_BAD_INPUT, fail  # noqa: F401 - re-exported
from roadmark_pipeline.monitoring.schema import CLASS_COLUMN_PREFIX


class DriftInputError(ValueError):
    """An input given to ``roadmark drift`` cannot be used; the message names it and the fix."""


def share(text: str) -> float:
    """Parse ``--drift-share``: a finite number in (0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number; pass a share in (0, 1], e.g. 0.5"
        ) from None
    if not math.isfinite(value) or not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is outside (0, 1]; pass a share such as 0.5")
    return value


def iso_day(text: str) -> str:
    """Parse ``--day``: an ISO date, returned as ``YYYY-MM-DD``."""
    try:
        return dt.date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date; pass the day as YYYY-MM-DD, e.g. 2025-03-14"
        ) from None


def column_list(text: str) -> tuple[str, ...]:
    """Parse ``--columns a,b,...`` into names (spaces trimmed, repeats dropped, order kept)."""
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(
            f"{text!r} holds an empty name; pass comma-separated column names, e.g. brightness,blur"
        )
    return tuple(dict.fromkeys(names))


def port(text: str) -> int:
    """Parse a TCP port number (1-65535)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a port; pass 1-65535, e.g. 8000"
        ) from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text} is outside 1-65535; pass a port such as 8000")
    return value


def read_table(path: Path) -> pd.DataFrame:
    """Read a Parquet (or CSV) table, naming the file and the fix when it fails.

    Raises:
        DriftInputError: When the file is missing, a folder, or not a readable table.
    """
    import pyarrow as pa

    if not path.is_file():
        what = "a folder" if path.is_dir() else "no such file"
        raise DriftInputError(f"{path}: {what}; pass a Parquet (or CSV) table of telemetry rows")
    try:
        if path.suffix.lower() == ".csv":
            return pd.read_csv(path)
        return pd.read_parquet(path)
    except (pa.ArrowException, OSError, ValueError, UnicodeDecodeError) as error:
        reason = " ".join(str(error).split())[:160]
        raise DriftInputError(
            f"{path}: not a readable table ({reason}); pass a .parquet (or .csv) file"
        ) from error


def choose_columns(
    requested: Sequence[str] | None,
    default: Sequence[str],
    reference: pd.DataFrame,
    current: pd.DataFrame,
    sources: tuple[Path, Path],
) -> list[str]:
    """Return the columns to compare: those asked for, else the default ones present.

    Args:
        requested: ``--columns``; None for the default.
        default: The telemetry input and output columns.
        reference: The reference table.
        current: The current table.
        sources: The two files, for the message.

    Raises:
        DriftInputError: When a requested column is in neither table, or no default one is.
    """
    present = list(dict.fromkeys([*map(str, reference.columns), *map(str, current.columns)]))
    if requested is not None:
        unknown = [name for name in requested if name not in present]
        if unknown:
            raise DriftInputError(
                f"--columns: {', '.join(unknown)} in neither {sources[0]} nor {sources[1]}; "
                f"pass names from: {', '.join(present) or '(the tables have no columns)'}"
            )
        return list(requested)
    classes = sorted(name for name in present if name.startswith(CLASS_COLUMN_PREFIX))
    chosen = [name for name in [*default, *classes] if name in present]
    if not chosen:
        raise DriftInputError(
            f"{sources[0]}, {sources[1]}: no telemetry metric column ({', '.join(default)}); "
            f"name the columns to compare with --columns, e.g. --columns {present[0]}"
            if present
            else f"{sources[0]}, {sources[1]}: the tables have no columns; pass telemetry tables"
        )
    return chosen


class OutputFolder(cli_support.OutputFolder):
    """An output folder of a drift command; its problems raise :class:`DriftInputError`."""

    error = DriftInputError


def free_port(number: int) -> None:
    """Check that nothing listens on 127.0.0.1:``number`` yet.

    Raises:
        DriftInputError: When the port is taken (or not ours to bind).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", number))
        except OSError as error:
            raise DriftInputError(
                f"--port {number}: 127.0.0.1:{number} is not free ({error.strerror or error}); "
                "pass another port with --port"
            ) from error


def workspace_folder(path: Path) -> Path:
    """Check that ``path`` is an Evidently workspace folder written by ``roadmark drift``.

    Raises:
        DriftInputError: When it is missing or not a folder.
    """
    if not path.is_dir():
        what = "not a folder" if path.exists() else "no such folder"
        raise DriftInputError(
            f"{path}: {what}; pass the folder given to roadmark drift --workspace"
        )
    return path


def as_error(error: Any) -> DriftInputError:
    """Wrap an error raised while writing the report into one :class:`DriftInputError`."""
    if isinstance(error, DriftInputError):
        return error
    if isinstance(error, OSError):
        where = error.filename or "the output folder"
        return DriftInputError(
            f"{where}: cannot write the report ({error.strerror or error}); pass a writable "
            "folder on a disk with free space"
        )
    return DriftInputError(str(error))
