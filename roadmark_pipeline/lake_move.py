"""Move an existing local lake into an object store (``roadmark lake move``).

Tables and records hold absolute paths into the lake folder (frames, dataset folders, weights,
release folders). A copy alone would leave them pointing at the old folder, so JSON, YAML and
Parquet files are rewritten on the way: every path under the old folder is re-rooted at the new
lake's local mirror, which is where steps pull those files on any worker. The source folder is
only read; objects already in the store with the same size are not sent again, so an
interrupted move can be run again.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from upath import UPath

from roadmark_pipeline import lake, lake_mirror
from roadmark_pipeline.cli_support import fail

LOG = logging.getLogger(__name__)

TEXT_SUFFIXES = (".json", ".yaml", ".yml", ".md")


@dataclass(frozen=True)
class MoveReport:
    """What a move did.

    Attributes:
        copied: Files sent unchanged.
        rewritten: Files whose recorded paths were re-rooted before sending.
        skipped: Files already in the store with the same size.
        new_root: The folder recorded paths now start with (the new lake's mirror).
    """

    copied: int
    rewritten: int
    skipped: int
    new_root: str


def move_lake(source: Path, target: str) -> MoveReport:
    """Copy the lake folder ``source`` to the object-store prefix ``target``.

    Args:
        source: The local lake folder (left as it is).
        target: An ``s3://`` (or other fsspec) URL; credentials and endpoint come from the
            environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``).

    Returns:
        The counts.

    Raises:
        ValueError: When ``source`` is not a lake folder or ``target`` is not a URL.
    """
    source = source.expanduser().resolve()
    if not source.is_dir():
        raise ValueError(f"{source}: no such folder; pass the lake folder (.roadmark/lake)")
    if not (source / "tables").is_dir():
        raise ValueError(f"{source}: not a lake folder (no tables/ inside); pass the lake root")
    remote = _target(target)
    new_root = lake_mirror.mirror_root(remote)
    stored = lake_mirror.remote_files(remote)

    copied = rewritten = skipped = 0
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        key = path.relative_to(source).as_posix()
        if path.name.endswith(".tmp") or "/.lock" in f"/{key}":
            continue
        data = _rerooted(path, str(source), str(new_root))
        if data is None and stored.get(key) == path.stat().st_size:
            skipped += 1
            continue
        destination = remote / key
        if data is None:
            remote.fs.put_file(str(path), destination.path)
            copied += 1
        else:
            destination.write_bytes(data)
            rewritten += 1
    LOG.info(
        "moved %s to %s: %d copied, %d rewritten, %d skipped",
        source,
        target,
        copied,
        rewritten,
        skipped,
    )
    return MoveReport(copied, rewritten, skipped, str(new_root))


def _target(target: str) -> UPath:
    """Return the target as a path in its store, after checking that its bucket answers.

    Raises:
        ValueError: For a local path, a protocol with no driver installed, a store that cannot
            be reached, or a bucket that does not exist; each says what to fix.
    """
    remote = lake.as_path(target)
    if lake.is_local(remote):
        raise ValueError(f"{target}: not an object-store URL; pass s3://BUCKET/PREFIX")
    bucket = remote.path.split("/", 1)[0]
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "the provider's default endpoint")
    try:
        remote.fs.ls(bucket)
    except ImportError as error:
        raise ValueError(
            f"{target}: no driver for this protocol here ({error}); use s3:// (any "
            "S3-compatible store) or install the driver"
        ) from error
    except FileNotFoundError as error:
        raise ValueError(
            f"{target}: bucket {bucket!r} does not exist at {endpoint}; create it first or fix "
            "the URL"
        ) from error
    except Exception as error:  # noqa: BLE001 - every driver has its own connection errors
        raise ValueError(
            f"{target}: cannot reach the store at {endpoint} ({type(error).__name__}: "
            f"{' '.join(str(error).split())[:160]}); check AWS_ENDPOINT_URL and the credentials"
        ) from error
    return remote


def _rerooted(path: Path, old: str, new: str) -> bytes | None:
    """Return the file's content with paths under ``old`` moved to ``new``, or None if unchanged."""
    if path.suffix in TEXT_SUFFIXES:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        if old not in text:
            return None
        return text.replace(old, new).encode("utf-8", errors="surrogateescape")
    if path.suffix != ".parquet":
        return None
    table = pd.read_parquet(path)
    changed = False
    for column in table.columns:
        if table[column].dtype != object:
            continue
        values = table[column]
        hits = values.map(lambda v: isinstance(v, str) and v.startswith(old))
        if hits.any():
            table.loc[hits, column] = values[hits].map(lambda v: new + v[len(old) :])
            changed = True
    if not changed:
        return None
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    return buffer.getvalue()


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``roadmark lake move SOURCE TARGET``."""
    parser = subparsers.add_parser("lake", help="lake chores")
    verbs = parser.add_subparsers(dest="lake_command", metavar="VERB", required=True)
    move = verbs.add_parser(
        "move",
        help="copy a local lake into an object store, re-rooting recorded paths",
        description="Copy a local lake folder to s3://BUCKET/PREFIX (endpoint and keys from the "
        "environment), rewriting paths recorded in tables to the new lake's local mirror. The "
        "folder is left as it is; then set ROADMARK_LAKE to the URL.",
    )
    move.add_argument("source", type=Path, help="the local lake folder (.roadmark/lake)")
    move.add_argument("target", help="s3://BUCKET/PREFIX")
    move.set_defaults(func=_move)


def _move(args: argparse.Namespace) -> int:
    for name in ("botocore", "aiobotocore", "s3fs"):  # credential lookups are not news
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        report = move_lake(args.source, args.target)
    except (ValueError, OSError) as error:
        return fail("roadmark lake move", error)
    LOG.info(
        "%d files copied, %d rewritten, %d already there; recorded paths now start with %s; "
        "set ROADMARK_LAKE=%s",
        report.copied,
        report.rewritten,
        report.skipped,
        report.new_root,
        args.target,
    )
    return 0
