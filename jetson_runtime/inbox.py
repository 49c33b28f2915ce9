"""Fleet inboxes the device uploads telemetry batches to: a folder, ``s3://`` or an HTTP PUT URL.

Every inbox stores a batch under its own file name, so uploading the same batch twice leaves one
file: uploads are idempotent and may be repeated after any failure.
"""

from __future__ import annotations

import contextlib
import os
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path


class InboxError(OSError):
    """An upload that did not reach the inbox; the batch stays pending."""


class Inbox:
    """Where batches go. Subclasses implement :meth:`put`."""

    def put(self, name: str, data: bytes) -> None:
        """Store ``data`` under ``name``, replacing a previous copy.

        Raises:
            InboxError: When the inbox cannot be reached or refuses the file.
        """
        raise NotImplementedError

    def check(self) -> None:
        """Refuse an inbox that can never take a batch; a remote one is only tried at upload.

        Raises:
            InboxError: Naming the inbox, what is wrong and the fix.
        """


class DirectoryInbox(Inbox):
    """A local or mounted folder; each file appears complete or not at all (temp + rename)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __str__(self) -> str:
        return str(self.root)

    def check(self) -> None:
        """Refuse a folder inbox that is a file, or that cannot be created or written.

        A folder that does not exist yet is fine when its nearest existing parent is a writable
        folder (uploads create it). Writability is probed with a temporary file, removed again.

        Raises:
            InboxError: Naming the inbox and the fix.
        """
        folder = self.root.absolute()
        existing = next(p for p in (folder, *folder.parents) if p.exists() or p == p.parent)
        if not existing.is_dir():
            what = "is a file" if existing == folder else f"cannot be created ({existing}: a file)"
            raise InboxError(f"{self.root}: {what}; pass a folder, an http(s):// or an s3:// URL")
        probe = existing / f".roadmark-inbox-probe.{uuid.uuid4().hex[:8]}.tmp"
        try:
            probe.write_bytes(b"")
        except OSError as exc:
            what = "is not writable" if existing == folder else "cannot be created"
            raise InboxError(
                f"{self.root}: {what}: writing in {existing} fails ({exc.strerror or exc}); pass "
                "a folder this user can write, an http(s):// or an s3:// URL"
            ) from exc
        finally:
            with contextlib.suppress(OSError):
                probe.unlink(missing_ok=True)

    def put(self, name: str, data: bytes) -> None:  # noqa: D102
        tmp = self.root / f".{name}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.root / name)
        except OSError as exc:
            raise InboxError(f"{self.root}: cannot write {name} ({exc})") from exc
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)


class HttpInbox(Inbox):
    """An HTTP(S) endpoint that accepts ``PUT <base>/<name>``."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.timeout = timeout

    def __str__(self) -> str:
        return self.base_url

    def put(self, name: str, data: bytes) -> None:  # noqa: D102
        url = self.base_url + urllib.parse.quote(name)
        request = urllib.request.Request(url, data=data, method="PUT")
        request.add_header("Content-Type", "application/vnd.apache.parquet")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status = response.status
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise InboxError(f"{url}: upload failed ({exc})") from exc
        if not 200 <= status < 300:
            raise InboxError(f"{url}: the server answered {status}")


class FsspecInbox(Inbox):
    """An object store through fsspec (``s3://bucket/prefix``); needs fsspec and its driver."""

    def __init__(self, url: str) -> None:
        try:
            import fsspec
        except ImportError as exc:
            raise InboxError(
                f"{url}: install fsspec (and s3fs) to upload to object stores"
            ) from exc
        self.url = url.rstrip("/")
        try:
            self._fs, self._root = fsspec.core.url_to_fs(self.url)
        except (ImportError, ValueError) as exc:  # no driver for the scheme, or an unknown one
            raise InboxError(
                f"{url}: fsspec cannot open it ({exc}); pass a folder, an http(s):// URL, or an "
                "object-store URL whose driver is installed (s3fs for s3://)"
            ) from exc

    def __str__(self) -> str:
        return self.url

    def put(self, name: str, data: bytes) -> None:  # noqa: D102
        try:
            self._fs.pipe_file(f"{self._root}/{name}", data)
        except Exception as exc:  # drivers raise their own error types
            raise InboxError(f"{self.url}/{name}: upload failed ({exc})") from exc


def open_inbox(target: str | os.PathLike[str]) -> Inbox:
    """Return the inbox for a folder path, an ``http(s)://`` URL or an fsspec URL (``s3://``)."""
    text = os.fspath(target)
    scheme = urllib.parse.urlparse(text).scheme
    if scheme in ("http", "https"):
        return HttpInbox(text)
    if scheme in ("", "file"):
        return DirectoryInbox(Path(text.removeprefix("file://")))
    return FsspecInbox(text)
