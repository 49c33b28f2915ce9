"""The device side of the TUF repository: refresh the metadata, download signed targets.

Every TUF or download error becomes an :class:`~jetson_runtime.ota_steps.UpdateError` whose
reason names what was refused (forged, rolled-back or expired metadata, a tampered file, ...).
"""

from __future__ import annotations

import json
from pathlib import Path

from tuf.api import exceptions as tuf_errors
from tuf.ngclient import Updater

from jetson_runtime.bundle import BundleError, check_version_text
from jetson_runtime.ota_steps import UpdateError


def channel_target(channel: str) -> str:
    """Target path of a channel pointer (mirrors the repository side)."""
    return f"channels/{channel}.json"


def release_target(version: str, name: str) -> str:
    """Target path of a release file (mirrors the repository side)."""
    return f"releases/{version}/{name}"


def _root_cause(exc: BaseException) -> str:
    """Return the innermost reason of a chained error, e.g. ``Connection refused``."""
    inner = exc
    while inner.__cause__ is not None or inner.__context__ is not None:
        inner = inner.__cause__ or inner.__context__  # type: ignore[assignment]
    if isinstance(inner, OSError) and inner.strerror:
        return inner.strerror
    return str(inner) or type(inner).__name__


def _explain(exc: Exception, what: str) -> UpdateError:
    """Turn a TUF or download error into an :class:`UpdateError` with a clear message."""
    table = [
        (tuf_errors.UnsignedMetadataError, "forged", "signature check failed: forged metadata"),
        (tuf_errors.BadVersionNumberError, "rollback", "older metadata than already trusted"),
        (tuf_errors.ExpiredMetadataError, "expired", "metadata expired (frozen repository?)"),
        (tuf_errors.LengthOrHashMismatchError, "mismatch", "length/hash differs from signed"),
        (tuf_errors.DownloadLengthMismatchError, "mismatch", "length differs from signed"),
        (tuf_errors.DownloadHTTPError, "missing", "the repository does not serve it"),
        (tuf_errors.RepositoryError, "invalid", "the repository metadata is invalid"),
    ]
    if isinstance(exc, tuf_errors.DownloadError) and not isinstance(
        exc, tuf_errors.DownloadHTTPError | tuf_errors.DownloadLengthMismatchError
    ):
        return UpdateError(
            "unreachable",
            f"{what}: the repository cannot be reached ({_root_cause(exc)}); check the URL and "
            "that the server is up; the device keeps its release",
        )
    for kind, reason, text in table:
        if isinstance(exc, kind):
            return UpdateError(
                reason, f"{what}: refused, {text} ({exc}); the device keeps its release"
            )
    return UpdateError("invalid", f"{what}: {exc}")


def _safe_name(name: str) -> str:
    parts = Path(name).parts
    if Path(name).is_absolute() or ".." in parts or not parts:
        raise UpdateError("invalid", f"release file name {name!r} escapes the release folder")
    return name


def open_updater(metadata_dir: Path, repo_url: str, root: bytes, downloads: Path) -> Updater:
    """Return a TUF updater for ``repo_url`` whose metadata is already refreshed.

    Args:
        metadata_dir: Where the client keeps its metadata (the device's ``tuf/metadata``, or a
            fresh folder while a new root is provisioned).
        repo_url: The repository's base URL (``metadata/`` and ``targets/`` below it).
        root: The trusted root metadata to bootstrap with.
        downloads: Where downloaded targets land by default.

    Raises:
        UpdateError: When the metadata is refused or the repository cannot be read.
    """
    metadata_dir.mkdir(parents=True, exist_ok=True)
    base = repo_url.rstrip("/")
    try:
        updater = Updater(
            str(metadata_dir),
            f"{base}/metadata/",
            str(downloads),
            f"{base}/targets/",
            bootstrap=root,
        )
        updater.refresh()
    except (tuf_errors.RepositoryError, tuf_errors.DownloadError) as exc:
        raise _explain(exc, f"{base} metadata") from exc
    return updater


def download(updater: Updater, target: str, destination: Path) -> Path:
    """Download one signed target to ``destination``, checked against its signed length and hash.

    Raises:
        UpdateError: When the target is not signed, not served, or differs from what is signed.
    """
    try:
        info = updater.get_targetinfo(target)
        if info is None:
            raise UpdateError("missing", f"{target}: not among the signed targets; refused")
        destination.parent.mkdir(parents=True, exist_ok=True)
        return Path(updater.download_target(info, str(destination)))
    except (tuf_errors.RepositoryError, tuf_errors.DownloadError) as exc:
        raise _explain(exc, target) from exc


def read_pointer(updater: Updater, channel: str, stage: Path) -> tuple[str, list[str]]:
    """Download a channel's pointer into ``stage`` and return its version and file names.

    Raises:
        UpdateError: When the pointer is missing, refused or malformed.
    """
    path = download(updater, channel_target(channel), stage / "channel.json")
    try:
        pointer = json.loads(path.read_text("utf-8"))
        version = check_version_text(str(pointer["version"]))
        files = [_safe_name(str(name)) for name in pointer["files"]]
    except (ValueError, KeyError, TypeError, BundleError) as exc:
        raise UpdateError("invalid", f"channel {channel}: malformed pointer ({exc})") from exc
    return version, files
