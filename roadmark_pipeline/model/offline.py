"""Keep ultralytics offline: no weights, fonts or settings fetched from the network.

ultralytics reads ``YOLO_CONFIG_DIR`` once, when it is first imported, and looks for the
``Arial.ttf`` its plots use in ``<YOLO_CONFIG_DIR>/Ultralytics``; a missing font is downloaded.
:func:`configure_ultralytics` must therefore run before anything imports ultralytics.

Nothing is written outside roadmark's state folder: the config folder defaults to
``<roadmark home>/ultralytics`` (``$ROADMARK_HOME`` or ``./.roadmark``), and matplotlib, which
ultralytics imports and which would otherwise create ``~/.config/matplotlib`` and its font cache
in ``~/.cache/matplotlib``, gets ``MPLCONFIGDIR=<config folder>/matplotlib`` unless the
environment already names one.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import sys
from pathlib import Path

from roadmark_pipeline.settings import roadmark_home

LOG = logging.getLogger(__name__)

FONT_NAME = "Arial.ttf"
SETTINGS_SUBDIR = "Ultralytics"
MATPLOTLIB_SUBDIR = "matplotlib"
MPLCONFIGDIR_ENV = "MPLCONFIGDIR"


class OfflineSetupError(RuntimeError):
    """The ultralytics offline setup cannot be made (no font to copy, config dir not writable)."""


def _dejavu_font() -> Path:
    """Return matplotlib's DejaVuSans.ttf, which stands in for Arial in ultralytics' plots.

    The package is located without importing it: importing matplotlib creates its config
    folder, and ``MPLCONFIGDIR`` is only set afterwards by :func:`configure_ultralytics`.
    """
    spec = importlib.util.find_spec("matplotlib")
    package = Path(spec.origin).parent if spec and spec.origin else Path("matplotlib")
    font = package / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
    if not font.is_file():
        raise OfflineSetupError(
            f"{font}: matplotlib's DejaVuSans.ttf is missing; reinstall matplotlib so ultralytics "
            "has a local font and does not try to download Arial.ttf"
        )
    return font


def _place_font(folder: Path, font: Path) -> None:
    """Copy ``font`` into ``folder`` as Arial.ttf unless a font is already there."""
    target = folder / FONT_NAME
    if target.is_file() and target.stat().st_size > 0:
        return
    folder.mkdir(parents=True, exist_ok=True)
    staged = folder / f".{FONT_NAME}.{os.getpid()}.tmp"
    shutil.copyfile(font, staged)
    os.replace(staged, target)


def configure_ultralytics(config_dir: Path) -> None:
    """Point ultralytics at a private config folder and switch off every download.

    Sets ``YOLO_OFFLINE=1``, ``YOLO_AUTOINSTALL=false`` and ``YOLO_CONFIG_DIR=config_dir``, and
    puts matplotlib's DejaVuSans.ttf there as ``Arial.ttf`` (in ``config_dir`` and in the
    ``Ultralytics`` sub-folder ultralytics actually reads). When ``MPLCONFIGDIR`` is not set it
    becomes ``config_dir/matplotlib``, so matplotlib writes nothing in the home folder. Calling
    it again is harmless.

    Args:
        config_dir: A writable folder private to this project (e.g. under the lake root).

    Raises:
        OfflineSetupError: When the font cannot be found or the folder cannot be written.
    """
    config_dir = Path(config_dir).expanduser().resolve()
    try:
        font = _dejavu_font()
        _place_font(config_dir, font)
        _place_font(config_dir / SETTINGS_SUBDIR, font)
    except OSError as error:
        raise OfflineSetupError(
            f"{config_dir}: cannot prepare the ultralytics config folder ({error}); "
            "pass a writable folder"
        ) from error
    configure_matplotlib(config_dir / MATPLOTLIB_SUBDIR)

    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "false"
    previous = os.environ.get("YOLO_CONFIG_DIR")
    os.environ["YOLO_CONFIG_DIR"] = str(config_dir)

    if "ultralytics" in sys.modules and previous != str(config_dir):
        _warn_if_imported_elsewhere(config_dir)
    LOG.debug("ultralytics configured offline, config dir %s", config_dir)


def configure_matplotlib(folder: Path | None = None) -> Path:
    """Keep matplotlib's config and font cache in the state folder, not in the home folder.

    Sets ``MPLCONFIGDIR`` to ``folder`` (``<default config folder>/matplotlib`` when None)
    unless the environment already names one, which is then kept. Call it before matplotlib is
    imported: matplotlib reads the variable once, on import.

    Args:
        folder: The matplotlib config folder to use when none is set.

    Returns:
        The folder matplotlib uses.

    Raises:
        OfflineSetupError: When the folder cannot be created.
    """
    configured = os.environ.get(MPLCONFIGDIR_ENV)
    if configured:
        return Path(configured)
    chosen = Path(folder or default_config_dir() / MATPLOTLIB_SUBDIR).expanduser().resolve()
    try:
        chosen.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OfflineSetupError(
            f"{chosen}: cannot create matplotlib's config folder ({error}); set MPLCONFIGDIR "
            "or ROADMARK_HOME to a writable folder"
        ) from error
    os.environ[MPLCONFIGDIR_ENV] = str(chosen)
    if "matplotlib" in sys.modules:
        LOG.warning(
            "matplotlib was imported before MPLCONFIGDIR was set to %s and keeps its own config "
            "folder; configure it before importing matplotlib",
            chosen,
        )
    return chosen


def _warn_if_imported_elsewhere(config_dir: Path) -> None:
    """Warn when ultralytics was imported before and reads another config folder."""
    from ultralytics.utils import USER_CONFIG_DIR

    if Path(USER_CONFIG_DIR).resolve() != config_dir / SETTINGS_SUBDIR:
        _place_font(Path(USER_CONFIG_DIR), _dejavu_font())
        LOG.warning(
            "ultralytics was imported before configure_ultralytics(%s) and keeps reading %s; "
            "placed the font there too. Call configure_ultralytics before importing ultralytics",
            config_dir,
            USER_CONFIG_DIR,
        )


def default_config_dir() -> Path:
    """Return the ultralytics config folder used when none is given: ``<home>/ultralytics``.

    Read at call time, so a ``$ROADMARK_HOME`` set after import is honoured.
    """
    return roadmark_home() / "ultralytics"


def ensure_offline(config_dir: Path | None = None) -> None:
    """Configure ultralytics offline unless done already; cheap to call before each use.

    Args:
        config_dir: Folder to use when none is configured yet; ``YOLO_CONFIG_DIR`` when it is
            set, else :func:`default_config_dir` (inside the roadmark state folder).
    """
    configured = os.environ.get("YOLO_CONFIG_DIR")
    chosen = Path(configured) if configured else (config_dir or default_config_dir())
    configure_ultralytics(chosen)
