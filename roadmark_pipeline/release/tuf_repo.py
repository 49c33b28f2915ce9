"""The release repository devices update from: TUF metadata over plain static files.

Four top-level roles (root, targets, snapshot, timestamp), one Ed25519 key each, kept in
``keys_dir`` (PEM, owner-readable only). Consistent snapshots are on, so the repository is laid
out the way ``tuf.ngclient`` fetches it::

    metadata/1.root.json  root.json  timestamp.json  <N>.snapshot.json  <N>.targets.json
    targets/releases/<version>/<sha256>.<file>      every file of a release
    targets/channels/<sha256>.<channel>.json        which version a channel (stable, canary) runs

Any static HTTP server (``python -m http.server --bind 127.0.0.1``) or object store can serve
it. Files are written under temporary names and renamed; the timestamp, which points at
everything else, is written last, so a reader never sees a half-published release.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import load_pem_private_key
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import (
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

from jetson_runtime.bundle import MANIFEST, bundle_files, load_bundle, version_key
from roadmark_pipeline import lake

LOG = logging.getLogger(__name__)

ROLES = ("root", "targets", "snapshot", "timestamp")
CHANNELS = ("stable", "canary")
DEFAULT_EXPIRY = {
    "root": timedelta(days=365),
    "targets": timedelta(days=90),
    "snapshot": timedelta(days=7),
    "timestamp": timedelta(days=1),
}


class PublishError(ValueError):
    """A publication the repository refuses; nothing was changed."""


def channel_target(channel: str) -> str:
    """Return the target path of a channel pointer, e.g. ``channels/stable.json``."""
    return f"channels/{channel}.json"


def release_target(version: str, name: str) -> str:
    """Return the target path of a release file, e.g. ``releases/1.2.0/model.onnx``."""
    return f"releases/{version}/{name}"


@dataclass
class _State:
    root: Metadata[Root]
    targets: Metadata[Targets]
    snapshot: Metadata[Snapshot]
    timestamp: Metadata[Timestamp]


class TufRepository:
    """A TUF repository of OTA releases with ``stable`` and ``canary`` channels.

    Args:
        repo_dir: The folder to serve (``metadata/`` and ``targets/`` inside).
        keys_dir: Where the private keys live (never served).
        expiry: Lifetime per role; :data:`DEFAULT_EXPIRY` when None. The timestamp's short
            life bounds how long a device can be shown a frozen repository.
    """

    def __init__(
        self, repo_dir: Path, keys_dir: Path, expiry: dict[str, timedelta] | None = None
    ) -> None:
        self.repo_dir = Path(repo_dir)
        self.keys_dir = Path(keys_dir)
        self.expiry = {**DEFAULT_EXPIRY, **(expiry or {})}
        self.metadata_dir = self.repo_dir / "metadata"
        self.targets_dir = self.repo_dir / "targets"

    @property
    def trusted_root_path(self) -> Path:
        """The root metadata a device is provisioned with (``metadata/1.root.json``)."""
        return self.metadata_dir / "1.root.json"

    # -- keys -------------------------------------------------------------------------------
    def _key_path(self, role: str) -> Path:
        return self.keys_dir / f"{role}.pem"

    def signer(self, role: str) -> CryptoSigner:
        """Return the signer of a role, from its key file."""
        pem = self._key_path(role).read_bytes()
        return CryptoSigner(load_pem_private_key(pem, None))

    def _ensure_keys(self) -> None:
        self.keys_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.keys_dir, 0o700)
        for role in ROLES:
            path = self._key_path(role)
            if path.exists():
                continue
            signer = CryptoSigner.generate_ed25519()
            lake.write_bytes_atomic(path, signer.private_bytes)
            os.chmod(path, 0o600)
            LOG.info("generated the %s key (Ed25519)", role)

    # -- metadata I/O -----------------------------------------------------------------------
    def _expires(self, role: str) -> datetime:
        return datetime.now(UTC).replace(microsecond=0) + self.expiry[role]

    def _write(self, metadata: Metadata[Any], name: str) -> MetaFile:
        """Write signed metadata; return its description (version, length, sha256)."""
        data = metadata.to_bytes(JSONSerializer(compact=False))
        lake.write_bytes_atomic(self.metadata_dir / name, data)
        digest = hashlib.sha256(data).hexdigest()
        return MetaFile(metadata.signed.version, len(data), {"sha256": digest})

    def _sign(self, metadata: Metadata[Any], role: str) -> None:
        metadata.signatures.clear()
        metadata.sign(self.signer(role), append=True)

    def _load(self) -> _State:
        def read(name: str) -> Metadata[Any]:
            return Metadata.from_file(str(self.metadata_dir / name))

        timestamp = read("timestamp.json")
        snapshot = read(f"{timestamp.signed.snapshot_meta.version}.snapshot.json")
        targets = read(f"{snapshot.signed.meta['targets.json'].version}.targets.json")
        return _State(read("root.json"), targets, snapshot, timestamp)

    def initialise(self) -> None:
        """Create keys and version-1 metadata; keep whatever already exists (idempotent)."""
        self._ensure_keys()
        if (self.metadata_dir / "timestamp.json").exists():
            LOG.info("TUF repository %s already initialised", self.repo_dir)
            return
        root = Root(expires=self._expires("root"), consistent_snapshot=True)
        for role in ROLES:
            root.add_key(self.signer(role).public_key, role)
        root_md = Metadata(root)
        self._sign(root_md, "root")
        state = _State(
            root_md,
            Metadata(Targets(expires=self._expires("targets"))),
            Metadata(Snapshot(expires=self._expires("snapshot"))),
            Metadata(Timestamp(expires=self._expires("timestamp"))),
        )
        self._write(root_md, "1.root.json")
        self._write(root_md, "root.json")
        self._commit(state, bump=False)
        LOG.info("TUF repository initialised at %s", self.repo_dir)

    def _commit(self, state: _State, bump: bool = True) -> None:
        """Sign targets, snapshot and timestamp (versions bumped) and write them, timestamp last.

        The snapshot records the targets file's length and hash, and the timestamp the
        snapshot's, so a device can't be handed files of two different publications.
        """
        if bump:
            state.targets.signed.version += 1
        state.targets.signed.expires = self._expires("targets")
        self._sign(state.targets, "targets")
        targets_meta = self._write(state.targets, f"{state.targets.signed.version}.targets.json")

        if bump:
            state.snapshot.signed.version += 1
        state.snapshot.signed.meta["targets.json"] = targets_meta
        state.snapshot.signed.expires = self._expires("snapshot")
        self._sign(state.snapshot, "snapshot")
        snapshot_name = f"{state.snapshot.signed.version}.snapshot.json"
        self._refresh_timestamp(state, self._write(state.snapshot, snapshot_name), bump)

    def _refresh_timestamp(self, state: _State, snapshot_meta: MetaFile, bump: bool = True) -> None:
        if bump:
            state.timestamp.signed.version += 1
        state.timestamp.signed.snapshot_meta = snapshot_meta
        state.timestamp.signed.expires = self._expires("timestamp")
        self._sign(state.timestamp, "timestamp")
        self._write(state.timestamp, "timestamp.json")

    def refresh_timestamp(self) -> int:
        """Re-sign the timestamp with a fresh expiry (run daily); returns its new version."""
        state = self._load()
        self._refresh_timestamp(state, state.timestamp.signed.snapshot_meta)
        return state.timestamp.signed.version

    def refresh_expiring(self, margin: timedelta = timedelta(days=2)) -> list[str]:
        """Re-sign what would expire within ``margin``; the timestamp is always re-signed.

        A repository nobody publishes to must still be served with fresh metadata, or devices
        refuse it as expired (which is right: they cannot tell it from a frozen repository).

        Args:
            margin: Re-sign targets and snapshot when they expire sooner than this.

        Returns:
            The roles re-signed.
        """
        state = self._load()
        soon = datetime.now(UTC) + margin
        if min(state.targets.signed.expires, state.snapshot.signed.expires) <= soon:
            self._commit(state)
            return ["targets", "snapshot", "timestamp"]
        self._refresh_timestamp(state, state.timestamp.signed.snapshot_meta)
        return ["timestamp"]

    # -- publishing -------------------------------------------------------------------------
    def _store_target(self, path: str, data: bytes) -> TargetFile:
        """Place a target's bytes under its hash-prefixed name and return its description."""
        info = TargetFile.from_data(path, data, ["sha256"])
        folder, _, base = path.rpartition("/")
        stored = self.targets_dir / folder / f"{info.hashes['sha256']}.{base}"
        if not stored.exists():
            lake.write_bytes_atomic(stored, data)
        return info

    def _channel_version(self, state: _State, channel: str) -> str | None:
        info = state.targets.signed.targets.get(channel_target(channel))
        if info is None:
            return None
        folder, _, base = info.path.rpartition("/")
        stored = self.targets_dir / folder / f"{info.hashes['sha256']}.{base}"
        return str(json.loads(stored.read_text("utf-8"))["version"])

    def channels(self) -> dict[str, str]:
        """Return the version each published channel points at."""
        state = self._load()
        found = {c: self._channel_version(state, c) for c in CHANNELS}
        return {c: v for c, v in found.items() if v is not None}

    def _release_targets(self, state: _State, release_dir: Path, version: str) -> list[TargetFile]:
        infos = []
        for name in [*bundle_files(release_dir), MANIFEST]:
            info = self._store_target(
                release_target(version, name), (release_dir / name).read_bytes()
            )
            known = state.targets.signed.targets.get(info.path)
            if known is not None and known.hashes != info.hashes:
                raise PublishError(
                    f"release {version} is already published with a different {name}; "
                    "releases are immutable: build it under a new version"
                )
            infos.append(info)
        return infos

    def publish(
        self, release_dir: Path, channel: str = "stable", *, allow_downgrade: bool = False
    ) -> dict[str, Any]:
        """Add a release's files as targets and point ``channel`` at it, then re-sign.

        Args:
            release_dir: A release folder built by ``build_release``.
            channel: ``stable`` or ``canary``.
            allow_downgrade: Point the channel at an older version than it has now (devices
                still refuse to install an older release than they run).

        Returns:
            ``version``, ``channel``, ``targets`` (paths), ``changed`` and the new metadata
            versions.

        Raises:
            PublishError: For an unknown channel, a changed re-publication or a downgrade.
            BundleError: When the release folder does not verify.
        """
        if channel not in CHANNELS:
            raise PublishError(f"channel {channel!r} unknown; use one of {list(CHANNELS)}")
        manifest = json.loads((Path(release_dir) / MANIFEST).read_text("utf-8"))
        bundle = load_bundle(Path(release_dir), runtime_version=manifest["min_runtime_version"])
        state = self._load()
        current = self._channel_version(state, channel)
        if current and version_key(bundle.version) < version_key(current) and not allow_downgrade:
            raise PublishError(
                f"{channel} runs {current}; {bundle.version} is older. Publish a new version "
                "(devices refuse older releases) or pass allow_downgrade"
            )

        infos = self._release_targets(state, Path(release_dir), bundle.version)
        names = sorted(i.path.removeprefix(f"releases/{bundle.version}/") for i in infos)
        pointer = {"channel": channel, "version": bundle.version, "files": names}
        data = json.dumps(pointer, indent=2, sort_keys=True).encode()
        infos.append(self._store_target(channel_target(channel), data))

        known = state.targets.signed.targets
        changed = any(known.get(i.path) != i for i in infos)
        if changed:
            for info in infos:
                known[info.path] = info
            self._commit(state)
            LOG.info("published %s to %s", bundle.version, channel)
        return {
            "version": bundle.version,
            "channel": channel,
            "targets": [i.path for i in infos],
            "changed": changed,
            "targets_version": state.targets.signed.version,
            "snapshot_version": state.snapshot.signed.version,
            "timestamp_version": state.timestamp.signed.version,
        }
