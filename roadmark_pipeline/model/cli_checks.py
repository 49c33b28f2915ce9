"""Input checks of the model room's commands, made before any training or export starts.

Every bad argument or file ends as one stderr line naming the input and the fix, exit code 2,
and nothing left behind: option values are parsed by the argparse types here, files and folders
are checked by the functions here before the first model is loaded.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import math
import sys
from collections.abc import Callable
from pathlib import Path

from roadmark_pipeline import cli_support
from roadmark_pipeline.cli_support import EXIT_BAD_INPUT, fail  # noqa: F401 - re-exported

LOG = logging.getLogger(__name__)

STRIDE = 32
MAX_IMGSZ = 4096
SILVER_EXPORT = Path("labels") / "annotations.labelstudio.json"


class ModelInputError(ValueError):
    """An input of a model command cannot be used; the message names it and the fix."""


def _number(text: str, kind: Callable[[str], float], example: str) -> float:
    try:
        value = kind(text)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}; pass e.g. {example}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text} is not finite; pass e.g. {example}")
    return value


def image_size(text: str) -> int:
    """Parse ``--imgsz``: a whole multiple of the detector's stride (32), 32 to 4096."""
    value = int(_number(text, int, "640"))
    if not STRIDE <= value <= MAX_IMGSZ or value % STRIDE:
        raise argparse.ArgumentTypeError(
            f"{text} is not a multiple of {STRIDE} within {STRIDE}-{MAX_IMGSZ}; pass e.g. 640"
        )
    return value


def at_least(low: int) -> Callable[[str], int]:
    """Return an argparse type for whole numbers >= ``low``."""

    def parse(text: str) -> int:
        value = int(_number(text, int, str(max(low, 1))))
        if value < low:
            raise argparse.ArgumentTypeError(f"{text} is below {low}; pass a whole number >= {low}")
        return value

    return parse


def fraction(low_open: bool = True, high_open: bool = False) -> Callable[[str], float]:
    """Return an argparse type for a share between 0 and 1 (ends open or closed as given)."""
    span = f"{'(' if low_open else '['}0, 1{')' if high_open else ']'}"

    def parse(text: str) -> float:
        value = _number(text, float, "0.25")
        too_low = value <= 0 if low_open else value < 0
        too_high = value >= 1 if high_open else value > 1
        if too_low or too_high:
            raise argparse.ArgumentTypeError(f"{text} is outside {span}; pass e.g. 0.25")
        return value

    return parse


def non_negative(text: str) -> float:
    """Parse a finite number >= 0 (``--tolerance``)."""
    value = _number(text, float, "0.02")
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative; pass a number >= 0, e.g. 0.02")
    return value


def device(text: str) -> str:
    """Parse ``--device``: ``auto``, ``cpu`` or a CUDA index; an index needs a visible GPU."""
    value = text.strip().lower()
    if value in ("auto", "cpu"):
        return value
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a device; pass auto, cpu or 0")
    import torch

    if not torch.cuda.is_available():
        raise argparse.ArgumentTypeError(f"{text}: no CUDA GPU is visible here; pass cpu or auto")
    if int(value) >= torch.cuda.device_count():
        raise argparse.ArgumentTypeError(
            f"{text}: only {torch.cuda.device_count()} CUDA GPU(s) here; pass 0 or auto"
        )
    return value


def weights_file(path: Path) -> Path:
    """Check that ``path`` is a loadable ultralytics ``.pt`` checkpoint (nothing is fetched).

    Raises:
        ModelInputError: When it is missing, a folder, not ``.pt``, or not a YOLO checkpoint.
    """
    if not path.is_file():
        what = "a folder" if path.is_dir() else "no such file"
        raise ModelInputError(f"{path}: {what}; pass the best.pt of a training run")
    if path.suffix.lower() != ".pt":
        raise ModelInputError(f"{path}: not a .pt weights file; pass the best.pt of a training run")
    ultralytics_output_to_stderr()
    from ultralytics import YOLO

    try:
        YOLO(str(path))
    except Exception as error:  # ultralytics raises TypeError, pickle and zip errors alike
        raise ModelInputError(
            f"{path}: not a YOLO weights file ({type(error).__name__}); pass the best.pt of a "
            "training run"
        ) from error
    return path


def data_folder(path: Path) -> Path:
    """Check that ``path`` is the repository's ``data/`` folder (labels export and clips).

    Raises:
        ModelInputError: When the folder or its label export is missing.
    """
    if not path.is_dir():
        what = "not a folder" if path.exists() else "no such folder"
        raise ModelInputError(
            f"{path}: {what}; pass the repository's data/ folder (labels/, videos/, stills/)"
        )
    if not (path / SILVER_EXPORT).is_file():
        raise ModelInputError(
            f"{path}: no {SILVER_EXPORT} in it; pass the repository's data/ folder"
        )
    for folder in ("videos", "stills"):
        if not (path / folder).is_dir():
            raise ModelInputError(
                f"{path}: no {folder}/ folder in it; pass the repository's data/ folder"
            )
    return path


def image_files(paths: list[str]) -> list[Path]:
    """Check that every parity image exists and decodes.

    Raises:
        ModelInputError: Naming the first image that does not.
    """
    import cv2

    for text in paths:
        if not Path(text).is_file():  # checked first: OpenCV warns on stderr about a missing file
            what = "a folder" if Path(text).is_dir() else "no such file"
            raise ModelInputError(f"{text}: {what}; pass JPEG or PNG frames to --images")
        if cv2.imread(text) is None:
            raise ModelInputError(f"{text}: not a readable image; pass JPEG or PNG frames")
    return [Path(text) for text in paths]


def json_file(path: Path) -> str:
    """Return the text of a JSON file that exists.

    Raises:
        ModelInputError: When it is missing or a folder.
    """
    if not path.is_file():
        what = "a folder" if path.is_dir() else "no such file"
        raise ModelInputError(f"{path}: {what}; pass an evaluation.json written by a model run")
    try:
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ModelInputError(
            f"{path}: cannot read it ({error}); pass an evaluation.json written by a model run"
        ) from error


class OutputFolder(cli_support.OutputFolder):
    """An output folder of a model command; its problems raise :class:`ModelInputError`."""

    error = ModelInputError


def output_file(path: Path) -> OutputFolder:
    """Check that ``path`` can be written as a file; return its folder, prepared.

    Raises:
        ModelInputError: When ``path`` is a folder or its folder cannot be written.
    """
    if path.is_dir():
        raise ModelInputError(f"{path}: is a folder; pass a file name such as model.onnx")
    folder = OutputFolder(path.parent, "output file")
    folder.prepare()
    return folder


def ultralytics_output_to_stderr() -> None:
    """Send ultralytics' console log to stderr: a command's stdout carries only its JSON.

    ultralytics binds its log handler to ``sys.stdout`` when first imported, and logs "Creating
    new Ultralytics Settings" (three lines) while importing into a new config folder. The import
    therefore runs with stdout caught: what it printed goes to our debug log, and the handler,
    bound to the catching buffer (or to stdout by an earlier import), is moved to stderr.
    """
    from roadmark_pipeline.model.offline import ensure_offline

    ensure_offline()
    caught = io.StringIO()
    with contextlib.redirect_stdout(caught):
        import ultralytics  # noqa: F401 - binds its log handler to the stream current now
    if caught.getvalue().strip():
        LOG.debug("ultralytics on import: %s", " | ".join(caught.getvalue().split("\n")))
    for handler in logging.getLogger("ultralytics").handlers:
        stream = getattr(handler, "stream", None)
        if isinstance(handler, logging.StreamHandler) and stream in (
            caught,
            sys.stdout,
            sys.__stdout__,
        ):
            handler.setStream(sys.stderr)
