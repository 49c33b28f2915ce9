"""``roadmark demo``: the whole loop on the real clips, with the embedded Dagster instance.

Collect (landing sensor, ingest runs), label (Label Studio; a simulated annotator submits the
shipped silver labels through the API; the annotation sensor pulls them back), train, evaluate,
export, release (TUF), a device updates and runs the release, fleet telemetry, drift report,
drift sensor; then a new camera maker joins the fleet and the loop reacts to it. Every stage
runs as a Dagster run recorded in the instance under ``$DAGSTER_HOME``, visible in ``make dev``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roadmark_pipeline.cli_support import fail
from roadmark_pipeline.settings import roadmark_home
from roadmark_pipeline.shipped import REPO_DATA

LOG = logging.getLogger(__name__)


@dataclass
class DemoOptions:
    """Knobs of the demo; the defaults are what ``make demo`` runs.

    Attributes:
        data_dir: The shipped data (clips, stills, labels).
        every_n: Sampling step; 4 matches the shipped labels (every 4th frame).
        epochs: Training epochs of the detector (the other settings are the model room's
            measured CPU settings, ``DEMO_TRAIN_CONFIG``: docs/model.md).
        imgsz: Training, export and device input size.
        folds: K of the cross-training behind the label-error search.
        fold_epochs: Epochs of each fold model.
        fold_imgsz: Image size of the fold models.
        edge_every_n: The device's sampling step on the clips it runs.
        new_camera_clip: The shipped clip the new camera maker "re-records".
        drift_min_samples: Fewest values a column needs before drift is judged on it.
    """

    data_dir: Path = REPO_DATA
    every_n: int = 4
    epochs: int = 20
    imgsz: int = 416
    folds: int = 2
    fold_epochs: int = 12
    fold_imgsz: int = 320
    edge_every_n: int = 1
    new_camera_clip: str = "solidWhiteRight.mp4"
    drift_min_samples: int = 30


@dataclass
class DemoSummary:
    """What the demo did, for the closing printout and for tests."""

    runs: dict[str, str] = field(default_factory=dict)
    new_sources: int = 0
    evaluation: dict[str, Any] = field(default_factory=dict)
    parity: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, tuple[bool, str]] = field(default_factory=dict)
    release: dict[str, Any] = field(default_factory=dict)
    drift: dict[str, Any] = field(default_factory=dict)
    drift_shipped: dict[str, Any] = field(default_factory=dict)
    drift_sensor: str = ""
    label_studio_url: str = ""
    wall_s: float = 0.0


def prepare_environment() -> Path:
    """Point Dagster at the demo instance and make sure its config is in place."""
    home = roadmark_home()
    dagster_home = Path(os.environ.setdefault("DAGSTER_HOME", str(home / "dagster")))
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = Path(__file__).resolve().parents[1] / "dagster.yaml"
    if config.exists() and not (dagster_home / "dagster.yaml").exists():
        shutil.copyfile(config, dagster_home / "dagster.yaml")
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("LATEST_VERSION_CHECK", "false")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # instance migrations: not news
    return home


def land_shipped_data(data_dir: Path, landing: Path) -> list[Path]:
    """Copy the shipped clips and stills into the landing zone (files already there are kept)."""
    from roadmark_pipeline.shipped import shipped_sources

    landed = []
    for source in shipped_sources(data_dir):
        target = landing / "shipped" / source.name
        if not target.exists() or target.stat().st_size != source.stat().st_size:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target.with_name(target.name + ".part"))
            os.replace(target.with_name(target.name + ".part"), target)
        landed.append(target)
    LOG.info("landing zone %s holds %d shipped sources", landing, len(landed))
    return landed


def run_demo(options: DemoOptions) -> DemoSummary:
    """Run the whole loop once; a second run re-uses what is already there.

    Args:
        options: The demo's knobs.

    Returns:
        What was done, with the evaluation, parity, release and drift figures.
    """
    from roadmark_pipeline import demo_steps as steps
    from roadmark_pipeline.demo_camera import new_camera

    started = time.monotonic()
    home = prepare_environment()
    summary = DemoSummary()
    land_shipped_data(options.data_dir, home / "landing")

    context = steps.DemoContext.create()
    summary.new_sources = steps.ingest_landed(context, options, summary)
    summary.label_studio_url = steps.send_to_labeling(context, summary)
    steps.simulated_annotator(context, options)
    steps.pull_annotations(context, options, summary)
    steps.retrain_and_release(context, options, summary)
    steps.device_update_and_run(context, options, summary)
    steps.monitor(context, dt.datetime.now(dt.UTC).date(), summary, options)
    summary.drift_shipped = dict(summary.drift)
    new_camera(context, options, summary)

    summary.wall_s = time.monotonic() - started
    return summary


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``roadmark demo``."""
    from roadmark_pipeline.model.cli_checks import at_least, image_size

    parser = subparsers.add_parser("demo", help="run the whole loop on the shipped real clips")
    parser.add_argument(
        "--data-dir", type=Path, default=REPO_DATA, help="clips, stills and labels (data/)"
    )
    parser.add_argument(
        "--epochs", type=at_least(1), default=DemoOptions.epochs, help="training epochs"
    )
    parser.add_argument(
        "--imgsz", type=image_size, default=DemoOptions.imgsz, help="a multiple of 32"
    )
    parser.set_defaults(func=_demo_command)


def data_dir_problem(data_dir: Path) -> str | None:
    """Say what is wrong with a demo data folder, or None when it has what the demo needs.

    Args:
        data_dir: Expected to hold ``videos/*.mp4``, ``stills/*.jpg`` and the label file.
    """
    from roadmark_pipeline.shipped import LABELS_FILE, shipped_sources

    if not data_dir.is_dir():
        return f"{data_dir}: no such folder; pass the repository's data/ folder (the default)"
    if not shipped_sources(data_dir):
        return f"{data_dir}: holds no videos/*.mp4 or stills/*.jpg; restore data/ from git"
    if not (data_dir / LABELS_FILE).is_file():
        return f"{data_dir / LABELS_FILE}: shipped label file missing; restore data/ from git"
    return None


def _demo_command(args: argparse.Namespace) -> int:
    from roadmark_pipeline.demo_report import render_summary
    from roadmark_pipeline.demo_steps import DemoStepError
    from roadmark_pipeline.labeling.server import LabelStudioError

    problem = data_dir_problem(args.data_dir)
    if problem:
        return fail("roadmark demo", problem)
    options = DemoOptions(data_dir=args.data_dir, epochs=args.epochs, imgsz=args.imgsz)
    try:
        summary = run_demo(options)
    except (DemoStepError, LabelStudioError, FileNotFoundError) as error:
        sys.stderr.write(f"roadmark demo: {error}\n")
        if "port" in str(error).lower():
            sys.stderr.write("roadmark demo: another port: ROADMARK_LS_PORT=18090 make demo\n")
        return 1
    sys.stdout.write(render_summary(summary, roadmark_home()) + "\n")
    return 0
