"""The ``roadmark`` entry point: what it says when the command line itself is wrong."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.cli_helpers import assert_one_line_error


def _roadmark(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "roadmark_pipeline.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_no_command_is_one_line_on_stderr() -> None:
    done = _roadmark()

    assert_one_line_error(done, "roadmark:", "no command given", "roadmark --help")


def test_an_unknown_option_is_reported_by_its_sub_command() -> None:
    done = _roadmark("probe", "clip.mp4", "--bogus")

    assert_one_line_error(done, "roadmark probe:", "--bogus", "roadmark probe --help")


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["probe", ""], "a positional argument is empty"),
        (
            ["drift", "r.parquet", "c.parquet", "out", "--workspace", " "],
            "--workspace argument is empty",
        ),
        (
            ["drift", "r.parquet", "c.parquet", "out", "--workspace="],
            "--workspace argument is empty",
        ),
    ],
)
def test_an_empty_argument_is_refused_before_any_work(args: list[str], named: str) -> None:
    done = _roadmark(*args)

    assert_one_line_error(done, f"roadmark {args[0]}:", named)
