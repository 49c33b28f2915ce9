"""``roadmark demo`` refuses bad options before any work starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_helpers import assert_one_line_error

ROADMARK = str(Path(sys.executable).with_name("roadmark"))


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--epochs", "0"], "0 is below 1"),
        (["--imgsz", "33"], "33 is not a multiple of 32"),
        (["--data-dir", "/nonexistent-roadmark-data"], "no such folder"),
        (["--data-dir", "{tmp}"], "holds no videos/*.mp4 or stills/*.jpg"),
    ],
)
def test_bad_options_are_one_line_and_start_nothing(args, says, tmp_path):
    home = tmp_path / "home"
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in args]

    done = subprocess.run(
        [ROADMARK, "demo", *args],
        capture_output=True,
        text=True,
        env=os.environ | {"ROADMARK_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")},
        timeout=120,
    )

    assert_one_line_error(done, "roadmark demo: ", says)
    assert not home.exists()  # no lake, no Label Studio, no instance
