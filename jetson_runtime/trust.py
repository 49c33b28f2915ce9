"""The device's trust anchor: the TUF root it checks every repository signature against.

The root is given once, with ``roadmark-edge update --trusted-root FILE``. A file is accepted only
when it is TUF root metadata, signed by the threshold of its own root keys, and not expired. It
is stored only once the repository's metadata has verified against it, so a root that does not
belong to the repository never becomes the device's anchor.

A valid stored root is never replaced by a different one unless the operator asks for it
(``--reprovision``): swapping the anchor silently would let whoever controls the command line
point the device at another repository. A stored root that no longer verifies (corrupted on
disk) says so, and any valid ``--trusted-root`` replaces it.

Stored files: ``tuf/trusted_root.json`` (the anchor as provisioned) and ``tuf/metadata/`` (the
TUF client's metadata; its ``root.json`` follows root rotations and is preferred).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from tuf.api import exceptions as tuf_errors
from tuf.api.metadata import Metadata
from tuf.api.serialization import DeserializationError

from jetson_runtime.ota_steps import UpdateError
from jetson_runtime.slots import DeviceLayout

LOG = logging.getLogger(__name__)

TRUSTED_ROOT = "trusted_root.json"
METADATA_DIR = "metadata"
MAX_ROOT_BYTES = 1 << 20  # a root is a few KiB; anything this large is some other file
ROOT_HINT = "pass the repository's root metadata, metadata/<N>.root.json (e.g. 1.root.json)"


@dataclass(frozen=True)
class TrustPlan:
    """How one update bootstraps the TUF client.

    Attributes:
        root: The root metadata to bootstrap with.
        metadata_dir: Where the client keeps its metadata during this update.
        provision: True when ``root`` is a new anchor, to be stored by :func:`commit_trust`
            once the repository's metadata has verified against it.
    """

    root: bytes
    metadata_dir: Path
    provision: bool


def root_problem(data: bytes, *, allow_expired: bool = False) -> str | None:
    """Return what makes ``data`` unusable as a trusted root, or None when it is usable.

    Args:
        data: The file's bytes.
        allow_expired: Accept an expired root (a stored one: the TUF client updates it from
            the repository through the chain of newer roots).
    """
    if len(data) > MAX_ROOT_BYTES:
        return f"{len(data) / 2**20:.1f} MiB, far larger than root metadata"
    try:
        metadata = Metadata.from_bytes(data)
    except DeserializationError as exc:
        cause = exc.__cause__
        if isinstance(cause, json.JSONDecodeError | UnicodeDecodeError):
            return "not JSON"
        if isinstance(cause, KeyError):
            return f"JSON, but not TUF metadata (no {cause} field)"
        return "JSON, but not TUF metadata"
    if metadata.signed.type != "root":
        return f"TUF {metadata.signed.type} metadata, not root metadata"
    try:
        metadata.signed.verify_delegate("root", metadata.signed_bytes, metadata.signatures)
    except tuf_errors.UnsignedMetadataError as exc:
        return f"not signed by its own root keys ({exc})"
    if not allow_expired and metadata.signed.is_expired():
        return f"expired on {metadata.signed.expires:%Y-%m-%d}"
    return None


def read_offered_root(path: Path) -> bytes:
    """Read and check a ``--trusted-root`` file; nothing is written.

    Raises:
        UpdateError: ``bad_root`` when the file cannot be read or is not a usable root.
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_ROOT_BYTES + 1)
    except OSError as exc:
        raise UpdateError(
            "bad_root", f"--trusted-root {path}: cannot read it ({exc.strerror}); {ROOT_HINT}"
        ) from exc
    problem = root_problem(data)
    if problem is not None:
        raise UpdateError("bad_root", f"--trusted-root {path}: {problem}; {ROOT_HINT}")
    return data


def _stored_files(layout: DeviceLayout) -> list[Path]:
    """The stored root files, the one the TUF client keeps current first."""
    candidates = (layout.tuf_dir / METADATA_DIR / "root.json", layout.tuf_dir / TRUSTED_ROOT)
    return [path for path in candidates if path.exists() or path.is_symlink()]


def has_stored_root(layout: DeviceLayout) -> bool:
    """Return True when the device folder holds a root file (valid or not)."""
    return bool(_stored_files(layout))


def _stored_roots(layout: DeviceLayout) -> tuple[list[bytes], list[str]]:
    """Return the valid stored roots (preferred first) and what is wrong with the others."""
    valid, problems = [], []
    for path in _stored_files(layout):
        try:
            data = path.read_bytes()
        except OSError as exc:
            problems.append(f"{path}: {exc.strerror}")
            continue
        problem = root_problem(data, allow_expired=True)
        if problem is None:
            valid.append(data)
        else:
            problems.append(f"{path}: {problem}")
    return valid, problems


def _signed(data: bytes) -> dict:
    return json.loads(data)["signed"]


def plan_trust(
    layout: DeviceLayout,
    offered: bytes | None,
    source: str,
    workdir: Path,
    *,
    reprovision: bool = False,
) -> TrustPlan:
    """Decide which root this update trusts; nothing is written.

    Args:
        layout: The device folder.
        offered: A checked ``--trusted-root`` (see :func:`read_offered_root`), or None.
        source: How the offered root is named in messages.
        workdir: A fresh folder for the client's metadata when a new root is provisioned.
        reprovision: Replace a valid stored root by a different offered one.

    Raises:
        UpdateError: ``no_root`` (none stored, none offered), ``bad_root`` (the stored one is
            invalid and none offered), ``root_conflict`` (a different root offered for a device
            that already trusts one, without ``reprovision``).
    """
    valid, problems = _stored_roots(layout)
    stored_dir = layout.tuf_dir / METADATA_DIR
    if offered is None:
        if valid:
            return TrustPlan(valid[0], stored_dir, provision=False)
        if problems:
            raise UpdateError(
                "bad_root",
                f"{layout.root}: the stored trusted root is invalid ({'; '.join(problems)}); "
                "pass --trusted-root FILE to replace it",
            )
        raise UpdateError(
            "no_root", f"{layout.root}: no trusted root; pass --trusted-root FILE once"
        )

    if valid and any(_signed(data) == _signed(offered) for data in valid):
        return TrustPlan(valid[0], stored_dir, provision=False)  # the root already trusted
    if valid and not reprovision:
        version = _signed(valid[0])["version"]
        raise UpdateError(
            "root_conflict",
            f"--trusted-root {source}: differs from the root this device already trusts "
            f"(version {version}); the device keeps it. To move the device to another "
            "repository or root on purpose, add --reprovision",
        )
    if valid:
        LOG.warning("reprovisioning: %s replaces the trusted root once it verifies", source)
    elif problems:
        LOG.warning("the stored root is invalid (%s); %s replaces it", "; ".join(problems), source)
    return TrustPlan(offered, workdir, provision=True)


def commit_trust(layout: DeviceLayout, plan: TrustPlan) -> None:
    """Store a newly provisioned root and the metadata verified with it.

    The client metadata folder is replaced first, the anchor file second, each by a rename: a
    crash in between leaves the new root in the metadata (preferred) or the old pair.
    """
    if not plan.provision:
        return
    tuf_dir = layout.tuf_dir
    tuf_dir.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:8]
    fresh, retired = tuf_dir / f".metadata-{tag}.new", tuf_dir / f".metadata-{tag}.old"
    shutil.copytree(plan.metadata_dir, fresh, symlinks=True)
    current = tuf_dir / METADATA_DIR
    if current.exists():
        os.replace(current, retired)
    os.replace(fresh, current)

    anchor = tuf_dir / TRUSTED_ROOT
    tmp = tuf_dir / f".{TRUSTED_ROOT}.{tag}.tmp"
    with open(tmp, "wb") as handle:
        handle.write(plan.root)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, anchor)
    shutil.rmtree(retired, ignore_errors=True)
    LOG.info("trusted root stored (version %s)", _signed(plan.root)["version"])


def clear_leftovers(layout: DeviceLayout) -> None:
    """Remove what an interrupted :func:`commit_trust` left (never the stored root)."""
    for leftover in layout.tuf_dir.glob(".metadata-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    for leftover in layout.tuf_dir.glob(f".{TRUSTED_ROOT}.*.tmp"):
        leftover.unlink(missing_ok=True)
