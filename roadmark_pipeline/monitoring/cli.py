"""``roadmark drift``: compare two telemetry tables and print the verdict as JSON."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

LOG = logging.getLogger(__name__)


class DriftInputError(ValueError):
    """A table given to ``roadmark drift`` cannot be read."""


def _read_table(path: Path) -> Any:
    """Read a Parquet (or CSV) table, naming the file and the fix when it fails."""
    import pandas as pd
    import pyarrow as pa

    if not path.is_file():
        raise DriftInputError(f"{path}: no such file; pass a Parquet table of telemetry rows")
    try:
        if path.suffix.lower() == ".csv":
            return pd.read_csv(path)
        return pd.read_parquet(path)
    except (pa.ArrowException, OSError, ValueError) as error:
        raise DriftInputError(
            f"{path}: not a readable table ({error}); pass a .parquet (or .csv) file"
        ) from error


def _run_drift(args: argparse.Namespace) -> int:
    """Handle ``roadmark drift``: 0 once the verdict is out (1 on drift with --fail-on-drift)."""
    from roadmark_pipeline.monitoring.drift import DriftConfig, drift_report

    try:
        reference = _read_table(Path(args.reference))
        current = _read_table(Path(args.current))
    except DriftInputError as error:
        LOG.error("%s", error)
        return 2
    config = DriftConfig(drift_share=args.drift_share, min_samples=args.min_samples)
    segment = None if args.no_segments else args.segment_column
    result = drift_report(
        reference,
        current,
        config=config,
        out_dir=Path(args.out_dir),
        segment_column=segment,
        day=args.day,
    )
    if args.workspace:
        from roadmark_pipeline.monitoring.workspace import add_to_workspace

        add_to_workspace(Path(args.workspace), result)
    verdict = {
        "status": result.status,
        "flagged": result.flagged,
        "drifted_share": round(result.drifted_share, 4),
        "drifted_columns": list(result.drifted_columns),
        "segments": {name: seg.status for name, seg in result.segments.items()},
        "event_key": result.event_key() or None,
        "reason": result.reason,
        "html": str(result.html_path),
        "json": str(result.json_path),
    }
    sys.stdout.write(json.dumps(verdict, indent=2) + "\n")
    return 1 if args.fail_on_drift and result.flagged else 0


def add_commands(subparsers: Any) -> None:
    """Add the ``drift`` sub-command to the ``roadmark`` parser.

    Args:
        subparsers: The object ``ArgumentParser.add_subparsers()`` returned.
    """
    parser = subparsers.add_parser(
        "drift",
        help="compare current telemetry with a reference and print the drift verdict as JSON",
        description="Evidently drift of input and output metrics; writes report.html, "
        "drift.json and per-camera-model segments to OUT_DIR. Exit code 0 with any verdict "
        "(1 when drift is flagged and --fail-on-drift is given), 2 for an unreadable input.",
    )
    parser.add_argument("reference", help="reference table (.parquet or .csv)")
    parser.add_argument("current", help="current telemetry table (.parquet or .csv)")
    parser.add_argument("out_dir", help="folder for the HTML and JSON reports")
    parser.add_argument("--drift-share", type=float, default=0.5, help="default 0.5")
    parser.add_argument("--min-samples", type=int, default=30, help="default 30")
    parser.add_argument("--segment-column", default="camera_model", help="default camera_model")
    parser.add_argument("--no-segments", action="store_true", help="overall comparison only")
    parser.add_argument("--day", default=None, help="day the current data covers (YYYY-MM-DD)")
    parser.add_argument("--fail-on-drift", action="store_true", help="exit 1 when drift is flagged")
    parser.add_argument(
        "--workspace",
        default=None,
        help="also add the snapshots to this Evidently workspace folder (see roadmark drift-ui)",
    )
    parser.set_defaults(func=_run_drift)

    ui = subparsers.add_parser(
        "drift-ui",
        help="serve an Evidently workspace of drift reports on 127.0.0.1 (no telemetry sent)",
    )
    ui.add_argument("workspace", help="the workspace folder given to roadmark drift --workspace")
    ui.add_argument("--port", type=int, default=8000, help="local port, default 8000")
    ui.set_defaults(func=_run_ui)


def _run_ui(args: argparse.Namespace) -> int:
    """Handle ``roadmark drift-ui``: run the Evidently UI in the foreground until interrupted."""
    import subprocess

    from roadmark_pipeline.monitoring.workspace import ui_command

    argv, env = ui_command(Path(args.workspace), args.port)
    LOG.info("Evidently UI on http://127.0.0.1:%d (Ctrl+C stops it)", args.port)
    try:
        return subprocess.run(argv, env=env, check=False).returncode
    except KeyboardInterrupt:
        return 0
