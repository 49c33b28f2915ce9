"""The source registry: which landed file each ``raw_videos`` partition comes from.

The landing sensor decides which listed files are new content (by sha256) and records each one
here; the ``raw_videos`` asset reads the record for its partition key. One record per content,
however many times or under however many names the same file was listed.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from upath import UPath

from roadmark_pipeline import lake
from roadmark_pipeline.ids import source_key

LOG = logging.getLogger(__name__)

REGISTRY_DIR = "sources"
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".m4v", ".ts", ".h264", ".hevc", ".webm")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
SIDECAR_SUFFIXES = (".json", ".gpx", ".nmea", ".csv", ".reason.txt")


@dataclass(frozen=True)
class ListedFile:
    """One file as a landing listing shows it.

    Attributes:
        key: Its path or object key under the landing root.
        size: Size in bytes.
        mtime: Last modification (seconds since the epoch); None for object stores, where an
            object is listed only once its upload is complete.
        sha256: Its content hash, when the lister already knows it.
    """

    key: str
    size: int
    mtime: float | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class SourceRecord:
    """A landed source that has a ``raw_videos`` partition.

    Attributes:
        partition_key: ``sha256[:16]``.
        sha256: Content hash of the file.
        uri: Where the file was found (local path or URL).
        size: Size in bytes.
        first_seen: When the sensor first registered it (seconds since the epoch).
    """

    partition_key: str
    sha256: str
    uri: str
    size: int
    first_seen: float = field(default_factory=time.time)


def is_candidate(key: str) -> bool:
    """Return True when a listed key looks like a video or still, not a sidecar or temp file."""
    name = key.rsplit("/", 1)[-1].lower()
    if name.startswith(".") or name.endswith((".part", ".tmp", ".crdownload")):
        return False
    return name.endswith(VIDEO_SUFFIXES + IMAGE_SUFFIXES)


def settled(entry: ListedFile, previous_size: int | None, now: float, settle_s: float) -> bool:
    """Return True when a listed file has stopped growing and may be ingested.

    A local file is settled once it was not modified for ``settle_s`` seconds and its size did
    not change since the previous tick. An object-store entry (no mtime) is complete once listed.
    """
    if entry.mtime is None:
        return True
    if previous_size is not None and previous_size != entry.size:
        return False
    return now - entry.mtime >= settle_s


@dataclass
class LandingPlan:
    """What one sensor tick decided.

    Attributes:
        new_sources: Content seen for the first time, one per sha256.
        waiting: Keys left for a later tick (still growing).
        cursor: The state to store for the next tick.
    """

    new_sources: list[SourceRecord]
    waiting: list[str]
    cursor: dict[str, dict[str, object]]


def plan_tick(
    listing: Iterable[ListedFile],
    cursor: Mapping[str, Mapping[str, object]],
    known_partitions: set[str],
    *,
    now: float,
    settle_s: float,
    root: str,
) -> tuple[LandingPlan, list[ListedFile]]:
    """Decide which listed files are new content, without reading any file.

    Args:
        listing: The landing listing of this tick (duplicates allowed).
        cursor: Per key, what the previous tick saw: ``{"size": ..., "sha256": ...}``.
        known_partitions: Partition keys that already exist.
        now: The current time (seconds since the epoch).
        settle_s: Quiet time a local file needs before it is taken.
        root: The landing root, joined with each key to make the record's URI.

    Returns:
        The plan, and the settled entries whose sha256 is still unknown (the caller hashes them
        and calls :func:`add_hashed`).
    """
    plan = LandingPlan(new_sources=[], waiting=[], cursor={})
    to_hash: list[ListedFile] = []
    seen_keys: set[str] = set()
    for entry in listing:
        if not is_candidate(entry.key) or (entry.key, entry.sha256) in seen_keys:
            continue
        seen_keys.add((entry.key, entry.sha256))
        previous = cursor.get(entry.key, {})
        previous_size = previous.get("size")
        if not settled(
            entry, previous_size if isinstance(previous_size, int) else None, now, settle_s
        ):
            plan.waiting.append(entry.key)
            plan.cursor[entry.key] = {"size": entry.size}
            continue
        sha = entry.sha256
        if (
            sha is None
            and previous.get("size") == entry.size
            and previous.get("mtime") == entry.mtime
        ):
            sha = previous.get("sha256")  # unchanged since it was hashed: no need to read it again
        if sha is None:
            to_hash.append(entry)
            continue
        add_hashed(plan, entry, str(sha), known_partitions, root=root, now=now)
    return plan, to_hash


def add_hashed(
    plan: LandingPlan,
    entry: ListedFile,
    sha256: str,
    known_partitions: set[str],
    *,
    root: str,
    now: float,
) -> None:
    """Record a settled, hashed entry in the plan; new content becomes a new source."""
    plan.cursor[entry.key] = {"size": entry.size, "mtime": entry.mtime, "sha256": sha256}
    key = source_key(sha256)
    if key in known_partitions or any(s.partition_key == key for s in plan.new_sources):
        return
    uri = (
        entry.key
        if "://" in entry.key or entry.key.startswith("/")
        else f"{root.rstrip('/')}/{entry.key}"
    )
    plan.new_sources.append(
        SourceRecord(partition_key=key, sha256=sha256, uri=uri, size=entry.size, first_seen=now)
    )


def registry_path(lake_root: Path | UPath, partition_key: str) -> Path | UPath:
    """Return where the record of a source lives in the lake."""
    return lake_root / REGISTRY_DIR / f"{partition_key}.json"


def register(lake_root: Path | UPath, record: SourceRecord) -> None:
    """Store a source record (atomically); an existing record for the same key is kept."""
    path = registry_path(lake_root, record.partition_key)
    if path.exists():
        LOG.debug("source %s already registered", record.partition_key)
        return
    lake.write_json_atomic(path, asdict(record))


def lookup(lake_root: Path | UPath, partition_key: str) -> SourceRecord:
    """Return the record of a source.

    Raises:
        KeyError: When no landed file was registered under ``partition_key``; the message says
            how sources get registered.
    """
    path = registry_path(lake_root, partition_key)
    if not path.exists():
        raise KeyError(
            f"no source registered for partition {partition_key!r} (looked in {path}); sources "
            "are registered by the landing sensor or `roadmark land FILE`"
        )
    return SourceRecord(**json.loads(path.read_text()))


def store_source(record: SourceRecord, raw_root: Path) -> Path:
    """Copy a landed source into the lake's raw area, content-addressed, and verify its hash.

    The landing file is left where it is. A copy that already exists with the right hash is
    reused, so a second materialization copies nothing.

    Args:
        record: The registered source.
        raw_root: The lake's local ``raw`` folder.

    Returns:
        The stored copy ``<raw_root>/<partition key>/<original name>``.

    Raises:
        ValueError: When the landed file's content no longer matches the registered sha256
            (it changed after it was listed); land it again to make a new source.
    """
    from roadmark_pipeline.ids import sha256_file

    name = record.uri.rstrip("/").rsplit("/", 1)[-1]
    target = raw_root / record.partition_key / name
    _store_sidecars(record.uri, target)
    if target.exists() and sha256_file(target) == record.sha256:
        return target
    source = lake.as_path(record.uri)
    with source.open("rb") as handle:
        data = handle.read()
    lake.write_bytes_atomic(target, data)
    actual = sha256_file(target)
    if actual != record.sha256:
        target.unlink(missing_ok=True)
        raise ValueError(
            f"{record.uri}: content changed after it was listed (sha256 {actual[:16]} != "
            f"{record.sha256[:16]}); land the new file again so it becomes a new source"
        )
    return target


def _store_sidecars(uri: str, target: Path) -> None:
    """Copy the source's sidecars (camera JSON, GPS track) next to its stored copy."""
    stem = uri.rsplit(".", 1)[0]
    for suffix in (".json", ".gpx", ".nmea", ".csv"):
        sidecar = lake.as_path(stem + suffix)
        if sidecar.exists():
            with sidecar.open("rb") as handle:
                lake.write_bytes_atomic(target.with_suffix(suffix), handle.read())


def quarantine(source: Path | UPath, quarantine_root: Path | UPath, reason: str) -> Path | UPath:
    """Copy an unusable file into quarantine with a ``.reason.txt`` beside it; delete nothing.

    Args:
        source: The unusable file.
        quarantine_root: The quarantine folder.
        reason: One line saying what is wrong and how to fix it.

    Returns:
        The quarantined copy.
    """
    target = quarantine_root / source.name
    with source.open("rb") as handle:
        lake.write_bytes_atomic(target, handle.read())
    lake.write_text_atomic(quarantine_root / f"{source.name}.reason.txt", reason.strip() + "\n")
    LOG.warning("quarantined %s: %s", source.name, reason)
    return target
