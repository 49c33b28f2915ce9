"""What every ``roadmark`` sub-command shares: one-line errors, their exit code, output folders.

Folder checks live here too: a command checks its output folder before any work starts and
removes again only the folders it created.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, NoReturn

EXIT_BAD_INPUT = 2


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one stderr line naming the command (exit 2).

    Scripts read the one line; the usage block stays behind ``--help``.
    """

    def error(self, message: str) -> NoReturn:
        """Report a bad argument in one line and exit with :data:`EXIT_BAD_INPUT`."""
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: {message}; see {self.prog} --help\n")


def fail(prog: str | None, error: Exception | str) -> int:
    """Write ``error`` as one stderr line; return :data:`EXIT_BAD_INPUT`.

    Args:
        prog: The command, written before the message; None writes the message alone.
        error: The error or message; its white space is folded into single spaces.

    Returns:
        :data:`EXIT_BAD_INPUT`.
    """
    prefix = f"{prog}: " if prog is not None else ""
    sys.stderr.write(f"{prefix}{' '.join(str(error).split())}\n")
    return EXIT_BAD_INPUT


def whole_number_at_least_one(example: int) -> Callable[[str], int]:
    """Return an argparse ``type`` that takes a whole number >= 1.

    Args:
        example: The value the error message suggests (the option's usual value).

    Returns:
        The parser; it raises ``argparse.ArgumentTypeError`` naming the text and the fix.
    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a whole number; pass one >= 1, e.g. {example}"
            ) from None
        if value < 1:
            raise argparse.ArgumentTypeError(
                f"{text} is below 1; pass a whole number >= 1, e.g. {example}"
            )
        return value

    return parse


def missing_parents(path: Path) -> list[Path]:
    """Return ``path`` (made absolute) and its ancestors that do not exist yet, top-most last."""
    missing = []
    for candidate in (path.absolute(), *path.absolute().parents):
        if candidate.exists():
            break
        missing.append(candidate)
    return missing


def first_missing(path: Path) -> Path | None:
    """Return the outermost folder on the way to ``path`` that does not exist yet.

    Removing it removes everything a ``mkdir(parents=True)`` of ``path`` created.

    Args:
        path: A folder that may not exist yet.

    Returns:
        That folder, absolute; None when ``path`` exists.
    """
    missing = missing_parents(path)
    return missing[-1] if missing else None


def file_in_the_way(folder: Path) -> Path | None:
    """Return the file that keeps ``folder`` from being used or created as a folder.

    Args:
        folder: A folder to write to, existing or not.

    Returns:
        ``folder`` itself when it is a file, else the first existing ancestor when that is a
        file (no folder can be made below it); None when the folder exists or can be made.

    Raises:
        OSError: When the file system cannot tell (e.g. a name too long).
    """
    if folder.exists() and not folder.is_dir():
        return folder
    above = next((path for path in folder.absolute().parents if path.exists()), None)
    return above if above is not None and not above.is_dir() else None


class OutputFolder:
    """A folder a command writes to, checked and created up front, removed on failure.

    Only folders the command created are removed; a folder that existed keeps its content.
    Each room subclasses it to name its own input error in :attr:`error`.
    """

    error: ClassVar[type[Exception]] = ValueError

    def __init__(self, folder: Path, what: str) -> None:
        """Remember the folder; nothing is checked or created before :meth:`prepare`.

        Args:
            folder: The folder to write to.
            what: What goes there, for the messages (e.g. ``"drift report"``).
        """
        self.folder = folder
        self.what = what
        self._created: list[Path] = []

    def prepare(self) -> None:
        """Create the folder (and missing parents) and prove a file can be written there.

        Raises:
            Exception: :attr:`error`, when it is a file, or cannot be created or written.
        """
        if self.folder.exists() and not self.folder.is_dir():
            raise self.error(
                f"{self.folder}: exists and is not a folder; pass a folder for the {self.what}"
            )
        self._created = missing_parents(self.folder)
        probe = self.folder / f".roadmark-write-test-{os.getpid()}"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as error:
            self.discard()
            raise self.error(
                f"{self.folder}: cannot write the {self.what} there "
                f"({error.strerror or error}); pass a folder you can create and write to"
            ) from error

    def discard(self) -> None:
        """Remove what :meth:`prepare` created (nothing when the folder existed before)."""
        if self._created:
            shutil.rmtree(self._created[-1], ignore_errors=True)
        self._created = []
