"""The ultralytics config folder and matplotlib's stay out of the home folder: the default is
inside the roadmark state folder, and ``MPLCONFIGDIR`` points into the config folder unless it is
already set. Fresh interpreters, so that nothing is imported before the configuration."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HOME_VARIABLES = ("MPLCONFIGDIR", "YOLO_CONFIG_DIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")


def clean_env(home: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in HOME_VARIABLES}
    env.pop("ROADMARK_HOME", None)
    return env | {"HOME": str(home)}


def python(script: str, *args: str, env: dict[str, str], cwd: Path | None = None):
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_configure_ultralytics_points_matplotlib_into_its_folder(tmp_path: Path) -> None:
    # A fresh interpreter: configure first, then let matplotlib build its font cache.
    script = (
        "import os, sys; from pathlib import Path;"
        "from roadmark_pipeline.model.offline import configure_ultralytics;"
        "configure_ultralytics(Path(sys.argv[1]));"
        "import matplotlib; matplotlib.use('Agg'); from matplotlib import pyplot;"
        "pyplot.figure().savefig(sys.argv[2]);"
        "print(os.environ['MPLCONFIGDIR'], matplotlib.get_cachedir())"
    )
    home = tmp_path / "home"
    home.mkdir()
    config, plot = str(tmp_path / "config"), str(tmp_path / "plot.png")
    done = python(script, config, plot, env=clean_env(home))
    assert done.returncode == 0, done.stderr
    expected = str((tmp_path / "config" / "matplotlib").resolve())
    assert done.stdout.split() == [expected, expected]
    assert list((tmp_path / "config" / "matplotlib").glob("fontlist-*.json"))
    assert not list(home.iterdir())


def test_configure_ultralytics_keeps_an_mplconfigdir_already_set(tmp_path: Path) -> None:
    script = (
        "import os, sys; from pathlib import Path;"
        "from roadmark_pipeline.model.offline import configure_ultralytics;"
        "configure_ultralytics(Path(sys.argv[1])); print(os.environ['MPLCONFIGDIR'])"
    )
    env = clean_env(tmp_path) | {"MPLCONFIGDIR": str(tmp_path / "mine")}
    done = python(script, str(tmp_path / "config"), env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tmp_path / "mine")
    assert not (tmp_path / "config" / "matplotlib").exists()


def test_default_config_folder_is_in_the_state_folder(tmp_path: Path) -> None:
    script = (
        "import os; from roadmark_pipeline.model.offline import ensure_offline;"
        "ensure_offline(); print(os.environ['YOLO_CONFIG_DIR']); print(os.environ['MPLCONFIGDIR'])"
    )
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()

    in_cwd = python(script, env=clean_env(home), cwd=work)
    assert in_cwd.returncode == 0, in_cwd.stderr
    default = work.resolve() / ".roadmark" / "ultralytics"
    assert in_cwd.stdout.split() == [str(default), str(default / "matplotlib")]

    state = tmp_path / "state"
    in_home = python(script, env=clean_env(home) | {"ROADMARK_HOME": str(state)}, cwd=work)
    assert in_home.returncode == 0, in_home.stderr
    assert in_home.stdout.split()[0] == str(state.resolve() / "ultralytics")
    assert not list(home.iterdir())
