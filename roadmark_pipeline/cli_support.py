"""What every ``roadmark`` sub-command shares: one-line errors and their exit code."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

EXIT_BAD_INPUT = 2


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one stderr line naming the command (exit 2).

    Scripts read the one line; the usage block stays behind ``--help``.
    """

    def error(self, message: str) -> NoReturn:
        """Report a bad argument in one line and exit with :data:`EXIT_BAD_INPUT`."""
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: {message}; see {self.prog} --help\n")


def fail(prog: str, error: Exception | str) -> int:
    """Write ``error`` as one stderr line prefixed by the command; return :data:`EXIT_BAD_INPUT`."""
    sys.stderr.write(f"{prog}: {' '.join(str(error).split())}\n")
    return EXIT_BAD_INPUT
