"""``roadmark drift``: compare two telemetry tables and print the verdict as JSON.

Bad input (a table, a folder or an option value) is one line on stderr naming it and the fix,
exit code 2, checked before anything is computed or written (see :mod:`cli_checks`).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from roadmark_pipeline.cli_support import whole_number_at_least_one
from roadmark_pipeline.monitoring import cli_checks as checks

LOG = logging.getLogger(__name__)

DEFAULT_SEGMENT = "camera_model"


def _drift_config(args: argparse.Namespace, columns: list[str]) -> Any:
    """The drift settings for the chosen columns: outputs by name, every other one an input."""
    from roadmark_pipeline.monitoring.drift import OUTPUT_COLUMNS, DriftConfig, is_count_column

    outputs = tuple(name for name in columns if name in OUTPUT_COLUMNS or is_count_column(name))
    inputs = tuple(name for name in columns if name not in outputs)
    return DriftConfig(
        drift_share=args.drift_share,
        min_samples=args.min_samples,
        input_columns=inputs,
        output_columns=outputs,
        class_columns=False,
    )


def _inputs(args: argparse.Namespace) -> tuple[Any, Any, list[str], str | None]:
    """Read both tables, choose the columns and the segment column; raise on bad input."""
    from roadmark_pipeline.monitoring.drift import INPUT_COLUMNS, OUTPUT_COLUMNS

    sources = (Path(args.reference), Path(args.current))
    reference, current = checks.read_table(sources[0]), checks.read_table(sources[1])
    default = [*INPUT_COLUMNS, *OUTPUT_COLUMNS]
    columns = checks.choose_columns(args.columns, default, reference, current, sources)

    segment = None if args.no_segments else (args.segment_column or DEFAULT_SEGMENT)
    if args.segment_column and not args.no_segments and segment not in current.columns:
        raise checks.DriftInputError(
            f"--segment-column: {segment} is not a column of {sources[1]}; pass one of "
            f"{', '.join(map(str, current.columns))}, or --no-segments"
        )
    return reference, current, columns, segment


def _verdict(result: Any, columns: list[str]) -> dict[str, Any]:
    """The JSON the command prints: verdict, the columns compared and which were evaluated."""
    table = result.columns.set_index("column")
    return {
        "status": result.status,
        "flagged": result.flagged,
        "drifted_share": round(result.drifted_share, 4),
        "columns": columns,
        "evaluated_columns": list(result.evaluated_columns),
        "not_evaluated": {
            str(name): str(table.at[name, "note"])
            for name in columns
            if name in table.index and not bool(table.at[name, "evaluated"])
        },
        "drifted_columns": list(result.drifted_columns),
        "segments": {name: seg.status for name, seg in result.segments.items()},
        "event_key": result.event_key() or None,
        "reason": result.reason,
        "html": str(result.html_path),
        "json": str(result.json_path),
    }


def _run_drift(args: argparse.Namespace) -> int:
    """Handle ``roadmark drift``: 0 once the verdict is out (1 on drift with --fail-on-drift)."""
    from roadmark_pipeline.monitoring.drift import drift_report

    prog = "roadmark drift"
    folders = [checks.OutputFolder(Path(args.out_dir), "drift report")]
    if args.workspace:
        folders.append(checks.OutputFolder(Path(args.workspace), "Evidently workspace"))
    try:
        reference, current, columns, segment = _inputs(args)
        for folder in folders:
            folder.prepare()
    except checks.DriftInputError as error:
        for folder in folders:
            folder.discard()
        return checks.fail(prog, error)
    others = [str(c) for c in [*reference.columns, *current.columns] if str(c) not in columns]
    if args.columns is None and others:
        LOG.info("not compared: %s (name them with --columns)", ", ".join(dict.fromkeys(others)))

    try:
        result = drift_report(
            reference,
            current,
            config=_drift_config(args, columns),
            out_dir=Path(args.out_dir),
            segment_column=segment,
            day=args.day,
        )
        if args.workspace:
            from roadmark_pipeline.monitoring.workspace import add_to_workspace

            add_to_workspace(Path(args.workspace), result)
    except (OSError, checks.DriftInputError) as error:
        for folder in folders:
            folder.discard()
        return checks.fail(prog, checks.as_error(error))

    sys.stdout.write(json.dumps(_verdict(result, columns), indent=2) + "\n")
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
        "(1 when drift is flagged and --fail-on-drift is given), 2 for a bad input (one line on "
        "stderr, nothing written).",
    )
    parser.add_argument("reference", help="reference table (.parquet or .csv)")
    parser.add_argument("current", help="current telemetry table (.parquet or .csv)")
    parser.add_argument("out_dir", help="folder for the HTML and JSON reports")
    parser.add_argument(
        "--columns",
        type=checks.column_list,
        default=None,
        metavar="A,B,...",
        help="columns to compare (default: the telemetry input and output metric columns present"
        ", det_<class> included); columns other than n_detections, mean_confidence, empty and "
        "det_<class> count as inputs",
    )
    parser.add_argument(
        "--drift-share", type=checks.share, default=0.5, help="share in (0, 1], default 0.5"
    )
    parser.add_argument(
        "--min-samples",
        type=whole_number_at_least_one(30),
        default=30,
        help="integer >= 1, default 30",
    )
    parser.add_argument(
        "--segment-column", default=None, help=f"column of CURRENT, default {DEFAULT_SEGMENT}"
    )
    parser.add_argument("--no-segments", action="store_true", help="overall comparison only")
    parser.add_argument(
        "--day", type=checks.iso_day, default=None, help="day the current data covers (YYYY-MM-DD)"
    )
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
    ui.add_argument("--port", type=checks.port, default=8000, help="local port, default 8000")
    ui.set_defaults(func=_run_ui)


def _run_ui(args: argparse.Namespace) -> int:
    """Handle ``roadmark drift-ui``: run the Evidently UI in the foreground until interrupted.

    The server is stopped with this command: on Ctrl+C (exit code 0), on SIGTERM (143) and on
    any other way out (see :func:`workspace.serve_ui`).
    """
    from roadmark_pipeline.monitoring.workspace import serve_ui

    try:
        workspace = checks.workspace_folder(Path(args.workspace))
        checks.free_port(args.port)
    except checks.DriftInputError as error:
        return checks.fail("roadmark drift-ui", error)
    LOG.info("Evidently UI on http://127.0.0.1:%d (Ctrl+C stops it)", args.port)
    return serve_ui(workspace, args.port)
