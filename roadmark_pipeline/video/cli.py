"""``roadmark probe`` and ``roadmark sample``: ingestion by hand or from scripts.

A source that cannot be read gets one line on stderr naming the file and the fix, exit code 2,
and nothing on disk: ``sample`` writes its frames and manifest in one atomic swap.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

LOG = logging.getLogger(__name__)

EXIT_UNREADABLE = 2
MANIFEST_NAME = "manifest.parquet"


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
    sample.add_argument("out_dir", help="folder for <frame_index:06d>.jpg and manifest.parquet")
    rule = sample.add_mutually_exclusive_group(required=True)
    rule.add_argument("--every-n", type=_positive_int, metavar="N", help="take every N-th frame")
    rule.add_argument(
        "--every-seconds", type=_positive_float, metavar="T", help="take a frame every T seconds"
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
    sample.add_argument("--jpeg-quality", type=int, default=95, help="JPEG quality (default 95)")
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
        return _fail(error)
    sys.stdout.write(json.dumps(info.to_dict(), sort_keys=True) + "\n")
    return 0


def run_sample(args: argparse.Namespace) -> int:
    """Sample ``args.video`` into ``args.out_dir`` with its manifest; print a one-line summary.

    Returns:
        0, or 2 when the source cannot be read.
    """
    from roadmark_pipeline.video.anonymise import NullAnonymiser
    from roadmark_pipeline.video.errors import SidecarError, UnreadableSourceError
    from roadmark_pipeline.video.sampling import SamplingPolicy, sample_source

    policy = SamplingPolicy(
        every_n=args.every_n, every_seconds=args.every_seconds, skip_static=args.skip_static
    )
    try:
        manifest = sample_source(
            args.video,
            args.out_dir,
            policy,
            anonymiser=NullAnonymiser() if args.no_anonymise else None,
            keep_originals=args.keep_originals,
            jpeg_quality=args.jpeg_quality,
            manifest_name=MANIFEST_NAME,
        )
    except (UnreadableSourceError, SidecarError) as error:
        return _fail(error)
    except ValueError as error:  # a bad option value (e.g. --jpeg-quality 0)
        return _fail(error)
    summary = {
        "frames": len(manifest),
        "usable": int(manifest["usable"].sum()),
        "regions_blurred": int(manifest["regions_blurred"].sum()),
        "manifest": f"{args.out_dir.rstrip('/')}/{MANIFEST_NAME}",
    }
    sys.stdout.write(json.dumps(summary, sort_keys=True) + "\n")
    return 0


def _fail(error: Exception) -> int:
    sys.stderr.write(f"roadmark: {' '.join(str(error).split())}\n")
    return EXIT_UNREADABLE


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: must be a whole number >= 1, e.g. 25")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text}: must be > 0 seconds, e.g. 1.0")
    return value
