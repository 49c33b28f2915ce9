"""Assertions shared by the tests that run the ``roadmark`` console script in a subprocess."""

from __future__ import annotations

import subprocess


def assert_one_line_error(done: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """Assert a refusal: exit code 2, empty stdout, one stderr line holding every fragment."""
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
