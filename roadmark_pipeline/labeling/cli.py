"""``roadmark ls-to-yolo``, and the registration of every labeling command.

Results go to stdout (one JSON object, or the YOLO summary); bad input (a file, a folder or an
option value) gets one line on stderr naming it and the fix, exit code 2, and no traceback. The
commands that run a local Label Studio (``labelstudio``, ``ls-simulate``) live in
:mod:`roadmark_pipeline.labeling.cli_server`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from roadmark_pipeline.cli_support import fail
from roadmark_pipeline.labeling.cli_server import add_server_commands

if TYPE_CHECKING:
    from roadmark_pipeline.labeling.yolo import YoloExportSummary

LOG = logging.getLogger(__name__)
PROG = "roadmark ls-to-yolo"


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add the labeling commands to the ``roadmark`` command line.

    Args:
        subparsers: The ``roadmark`` parser's sub-command group.
    """
    to_yolo = subparsers.add_parser(
        "ls-to-yolo",
        help="write YOLO labels and data.yaml from a Label Studio JSON export",
        description="Class ids follow the labeling config's (or class list's) order, never "
        "Label Studio's own YOLO export (which renumbers classes alphabetically). A task whose "
        "boxes cannot be converted is left out and reported, never written as background.",
    )
    to_yolo.add_argument("export", type=Path, help="Label Studio JSON export (EXPORT.json)")
    to_yolo.add_argument(
        "--label-config",
        type=Path,
        required=True,
        help="the project's labeling config XML, or a class list (one class name per line)",
    )
    to_yolo.add_argument(
        "--images",
        type=Path,
        metavar="DIR",
        help="folder holding the images (Label Studio's document root, or the image files); "
        "they are linked into OUT_DIR/images/. Without it, put them there as images.csv says",
    )
    to_yolo.add_argument(
        "out_dir", type=Path, help="gets labels/, data.yaml, images.csv (and images/)"
    )
    to_yolo.set_defaults(func=run_ls_to_yolo)

    add_server_commands(subparsers)


def run_ls_to_yolo(args: argparse.Namespace) -> int:
    """Convert ``args.export`` into YOLO labels under ``args.out_dir``; print a summary line.

    Tasks whose boxes cannot be converted, or whose boxes all carry labels the config lacks,
    are left out (listed under ``unconvertible``, counted in ``left_out_by_reason``), and the
    run still succeeds: the dataset written is complete for the tasks in it.

    Returns:
        0, or 2 when the export (no tasks, no label in common with the config), the config,
        the image folder or OUT_DIR (a file, or holding anything but a previous output of this
        command) cannot be used.
    """
    from roadmark_pipeline.labeling.config import LabelConfigError
    from roadmark_pipeline.labeling.yolo import LabelMismatchError, export_to_yolo
    from roadmark_pipeline.labeling.yolo_checks import out_dir_problem

    try:
        export, config = _read_export(args.export), _read_text(args.label_config)
    except _InputError as error:
        return fail(PROG, error)
    if args.images is not None and not args.images.is_dir():
        return fail(PROG, f"{args.images}: no such folder; pass the folder that holds the images")
    problem = out_dir_problem(args.out_dir)
    if problem:
        return fail(PROG, problem)
    try:
        summary = export_to_yolo(export, config, args.out_dir, image_root=args.images)
    except LabelConfigError as error:
        return fail(PROG, f"{args.label_config}: {error}")
    except LabelMismatchError as error:
        return fail(PROG, f"{args.export} and {args.label_config}: {error}")
    except ValueError as error:
        return fail(PROG, f"{args.export}: {error}")
    except OSError as error:
        reason = error.strerror or str(error)
        return fail(
            PROG, f"{args.out_dir}: cannot write there ({reason}); pass a folder you can write"
        )
    sys.stdout.write(json.dumps(_yolo_summary(summary)) + "\n")
    return 0


def _yolo_summary(summary: YoloExportSummary) -> dict[str, object]:
    """The one-line JSON summary of ``ls-to-yolo``."""
    return {
        "out_dir": str(summary.out_dir),
        "names": summary.names,
        "images": summary.n_images,
        "boxes": summary.n_boxes,
        "background": summary.n_background,
        "left_out_unannotated": summary.n_unannotated,
        "left_out_cancelled": summary.n_cancelled,
        "left_out_unconvertible": summary.n_unconvertible,
        "unconvertible": {str(k): v for k, v in summary.unconvertible.items()},
        "left_out_by_reason": summary.unconvertible_by_reason,
        "left_out_missing_image": len(summary.missing_images),
        "images_written": summary.images_written,
        "multi_annotation_tasks": summary.n_multi_annotation,
        "degenerate_boxes_dropped": summary.n_degenerate,
    }


class _InputError(ValueError):
    """An input file that cannot be used; the message names it and the fix."""


def _read_text(path: Path) -> str:
    try:
        return path.read_text("utf-8")
    except FileNotFoundError:
        raise _InputError(f"{path}: no such file; check the path") from None
    except IsADirectoryError:
        raise _InputError(f"{path}: is a folder, not a file; pass the file") from None
    except UnicodeDecodeError:
        raise _InputError(f"{path}: not UTF-8 text; pass the file as exported") from None
    except OSError as error:
        raise _InputError(f"{path}: cannot read ({error.strerror}); check the path") from None


def _read_export(path: Path) -> object:
    text = _read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise _InputError(
            f"{path}: not JSON ({error.msg}, line {error.lineno}); export the project as JSON"
        ) from None
    except RecursionError:
        raise _InputError(f"{path}: JSON nested too deeply; export the project as JSON") from None
