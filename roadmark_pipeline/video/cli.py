"""``roadmark probe`` and ``roadmark sample``: ingestion by hand or from scripts.

A source that cannot be read, a bad option value or an OUT_DIR that cannot be used gets one
line on stderr naming the input and the fix, exit code 2, and nothing on disk: ``sample``
writes its frames and manifest in one atomic swap. ``sample`` only replaces a folder that is
empty or a previous ``sample`` output (its manifest plus frame files), never one with other
files in it.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import shutil
import sys
from pathlib import Path

from roadmark_pipeline.cli_support import (
    fail,
    file_in_the_way,
    first_missing,
    whole_number_at_least_one,
)

LOG = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.parquet"
ORIGINALS_NAME = "originals"
# A frame file of a sample output: <frame_index:06d>.jpg (longer indices on very long drives).
_FRAME_FILE = re.compile(r"\d{6,}\.jpg")


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``probe`` and ``sample`` to the ``roadmark`` command line.

    Args:
        subparsers: The ``roadmark`` parser's sub-command group.
    """
    probe = subparsers.add_parser(
        "probe", help="print what a video really holds, as one JSON object"
    )
    probe.add_argument("video", help="a video file (or a still image)")
    probe.set_defaults(func=run_probe)

    sample = subparsers.add_parser(
        "sample", help="sample upright, anonymised frames and write OUT_DIR/manifest.parquet"
    )
    sample.add_argument("video", help="a video file (or a still image)")
    sample.add_argument(
        "out_dir",
        help="new or empty folder (or a previous sample output, which is replaced) for "
        "<frame_index:06d>.jpg and manifest.parquet",
    )
    rule = sample.add_mutually_exclusive_group(required=True)
    rule.add_argument(
        "--every-n", type=whole_number_at_least_one(25), metavar="N", help="take every N-th frame"
    )
    rule.add_argument(
        "--every-seconds",
        type=_positive_seconds,
        metavar="T",
        help="take a frame every T seconds (a finite number > 0)",
    )
    sample.add_argument(
        "--skip-static", action="store_true", help="skip repeats while the vehicle stands still"
    )
    sample.add_argument(
        "--no-anonymise",
        action="store_true",
        help="do not blur faces and plates (frames are marked and blocked before labeling)",
    )
    sample.add_argument(
        "--keep-originals", action="store_true", help="also keep unblurred frames in originals/"
    )
    sample.add_argument(
        "--jpeg-quality", type=_jpeg_quality, default=95, help="JPEG quality 1-100 (default 95)"
    )
    sample.set_defaults(func=run_sample)


def run_probe(args: argparse.Namespace) -> int:
    """Print the probe of ``args.video`` as one JSON object on stdout.

    Returns:
        0, or 2 when the source cannot be read.
    """
    from roadmark_pipeline.video.errors import SidecarError, UnreadableSourceError
    from roadmark_pipeline.video.probe import probe_source

    try:
        info = probe_source(args.video)
    except (UnreadableSourceError, SidecarError) as error:
        return fail("roadmark", error)
    sys.stdout.write(json.dumps(info.to_dict(), sort_keys=True) + "\n")
    return 0


def run_sample(args: argparse.Namespace) -> int:
    """Sample ``args.video`` into ``args.out_dir`` with its manifest; print a one-line summary.

    Returns:
        0, or 2 when the source cannot be read or OUT_DIR cannot be used.
    """
    from roadmark_pipeline.video.anonymise import NullAnonymiser
    from roadmark_pipeline.video.errors import SidecarError, UnreadableSourceError
    from roadmark_pipeline.video.sampling import SamplingPolicy, sample_source

    out_dir, created = Path(args.out_dir), None
    try:
        out_dir = out_dir.resolve() if out_dir.is_symlink() else out_dir
        problem = out_dir_problem(out_dir)
        created = first_missing(out_dir)
    except OSError as error:  # e.g. a name too long for the file system
        problem = _sample_error(error, args.video, out_dir)
    if problem:
        return fail("roadmark", problem)

    try:
        policy = SamplingPolicy(
            every_n=args.every_n, every_seconds=args.every_seconds, skip_static=args.skip_static
        )
        manifest = sample_source(
            args.video,
            out_dir,
            policy,
            anonymiser=NullAnonymiser() if args.no_anonymise else None,
            keep_originals=args.keep_originals,
            jpeg_quality=args.jpeg_quality,
            manifest_name=MANIFEST_NAME,
        )
    except (UnreadableSourceError, SidecarError, ValueError, OSError) as error:
        _remove_made(created)
        return fail("roadmark", _sample_error(error, args.video, out_dir))
    except BaseException:  # interrupted (SIGTERM, Ctrl+C): the stage is gone, so are these
        _remove_made(created)
        raise
    summary = {
        "frames": len(manifest),
        "usable": int(manifest["usable"].sum()),
        "regions_blurred": int(manifest["regions_blurred"].sum()),
        "manifest": str(out_dir / MANIFEST_NAME),
    }
    sys.stdout.write(json.dumps(summary, sort_keys=True) + "\n")
    return 0


def _remove_made(created: Path | None) -> None:
    """Remove the folders made on the way to OUT_DIR: they hold nothing of value."""
    if created is not None:
        shutil.rmtree(created, ignore_errors=True)


def out_dir_problem(out_dir: Path) -> str | None:
    """Say why ``roadmark sample`` must not write into ``out_dir``, or None when it may.

    ``sample`` replaces OUT_DIR as a whole, so only a missing folder, an empty one or a previous
    sample output (``manifest.parquet`` plus frame files, optionally ``originals/``) may be used.

    Args:
        out_dir: The OUT_DIR argument.

    Returns:
        A one-line message naming the folder and the fix, or None.
    """
    fix = "pass a new or empty folder, or a previous roadmark sample output to replace"
    blocking = file_in_the_way(out_dir)
    if blocking == out_dir:
        return f"{out_dir}: is a file, not a folder; {fix}"
    if blocking is not None:
        return f"{out_dir}: {blocking} is a file, so no folder can be made there; {fix}"
    if not out_dir.is_dir():
        return None
    foreign = foreign_entries(out_dir)
    if not foreign:
        return None
    shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
    return f"{out_dir}: folder holds other files ({shown}) that sampling would delete; {fix}"


def foreign_entries(folder: Path) -> list[str]:
    """Return what in ``folder`` is not a previous ``roadmark sample`` output, sorted.

    A sample output is ``manifest.parquet`` plus frame files (``<index:06d>.jpg``) and an
    ``originals/`` folder of frame files; without the manifest every entry counts as foreign.

    Args:
        folder: An existing folder.

    Returns:
        The foreign entries as paths relative to ``folder`` (``originals/notes.txt``); empty
        when the folder is empty or a sample output.
    """
    entries = sorted(folder.iterdir())
    if not (folder / MANIFEST_NAME).is_file():
        return [entry.name for entry in entries]
    foreign = []
    for entry in entries:
        if entry.name == MANIFEST_NAME:
            continue
        if entry.name == ORIGINALS_NAME and entry.is_dir() and not entry.is_symlink():
            inner = sorted(entry.iterdir())
            foreign += [f"{entry.name}/{item.name}" for item in inner if not _is_frame_file(item)]
        elif not _is_frame_file(entry):
            foreign.append(entry.name)
    return foreign


def _is_frame_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink() and bool(_FRAME_FILE.fullmatch(path.name))


def _sample_error(error: Exception, video: str, out_dir: Path) -> str:
    """One line for a failed ``sample``: source and option errors as they are, IO by place."""
    if not isinstance(error, OSError):
        return str(error)
    reason = error.strerror or str(error)
    if error.filename is not None and Path(str(error.filename)) == Path(video):
        return f"{video}: cannot read it ({reason}); check the file and its permissions"
    return (
        f"{out_dir}: cannot write the frames there ({reason}); pass a folder you can create and "
        "write to, on a disk with free space"
    )


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number; pass seconds T > 0, e.g. 1.0"
        ) from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(
            f"{text}: not a finite number; pass seconds T > 0, e.g. 1.0"
        )
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text}: must be > 0 seconds, e.g. 1.0")
    return value


def _jpeg_quality(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{text!r}: pass a whole number within 1-100, e.g. 95")
    return value
