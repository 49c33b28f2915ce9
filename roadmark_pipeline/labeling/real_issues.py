"""Label issues of a SIMULATED round ranked with real models: K-fold predictions, then cleanlab.

The SIMULATED annotators' planted errors are known, so the round can check a label-error search
against the truth. This module runs the model room's search the way the pipeline does, with real
detectors trained here: each frame is predicted by a fold model that never saw that frame's
labels (runs of consecutive frames held out, see ``model.folds``), the scores are put on
cleanlab's scale (``model.score_scale``) and cleanlab ranks the audited annotator's frames.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # kept out of the import so the command line starts fast
    import pandas as pd

    from roadmark_pipeline.model.training import TrainConfig

LOG = logging.getLogger(__name__)

FOLD_BY = ("block", "frame", "drive")  # model.folds.FOLD_SCHEMES, without importing pandas


def _audit_config() -> TrainConfig:
    from roadmark_pipeline.model.workflow import DEMO_LABEL_AUDIT_CONFIG

    return DEMO_LABEL_AUDIT_CONFIG


@dataclass(frozen=True)
class RealCleanlab:
    """How the fold models behind the label-error search are made.

    Attributes:
        folds: K of the K-fold cross-training.
        fold_by: ``"block"`` (runs of ``block_size`` consecutive frames held out), ``"frame"``
            or ``"drive"`` (whole drives held out; near chance on CPU, docs/labeling.md).
        block_size: Frames per held-out run.
        train_config: Training settings of each fold model.
        high_precision: Prediction precision mapped to cleanlab's 0.95 (``score_scale``).
        group_column: Frames column naming the drive.
    """

    folds: int = 2
    fold_by: str = "block"
    block_size: int = 4
    train_config: TrainConfig = field(default_factory=_audit_config)
    high_precision: float = 0.8
    group_column: str = "source_sha256"

    @classmethod
    def from_options(cls, fold_by: str, folds: int, block_size: int, epochs: int) -> RealCleanlab:
        """Settings from the ``ls-simulate`` options: the audit training with ``epochs``."""
        train_config = dataclasses.replace(_audit_config(), epochs=epochs)
        return cls(folds, fold_by, block_size, train_config)

    def describe(self) -> str:
        """One line naming the predictions, for reports."""
        runs = f", {self.block_size}-frame runs" if self.fold_by == "block" else ""
        return (
            f"real fold models: K={self.folds} by {self.fold_by}{runs}, "
            f"{self.train_config.epochs} epochs at {self.train_config.imgsz} px"
        )


@dataclass
class RealIssues:
    """The search's output.

    Attributes:
        issues: ``find_label_issues`` table, worst first.
        predictions: Out-of-fold predictions (model scores in ``raw_score``, cleanlab's scale in
            ``score``) with their ``fold``.
        figures: ``predictions`` (what made them), ``oof_map50_vs_truth`` (when a truth is
            given), ``train_wall_s``.
    """

    issues: pd.DataFrame
    predictions: pd.DataFrame
    figures: dict[str, Any]


def real_label_issues(
    frames: pd.DataFrame,
    labels: pd.DataFrame,
    work_dir: Path,
    settings: RealCleanlab | None = None,
    truth: pd.DataFrame | None = None,
) -> RealIssues:
    """Rank ``labels`` with cleanlab fed out-of-fold predictions of real detectors.

    Args:
        frames: The labelled frames (``frame_id, path, width, height`` and the group column).
        labels: The boxes under audit (``frame_id, class_id, x1, y1, x2, y2``).
        work_dir: Receives the ultralytics config and ``fold<i>/`` datasets and runs.
        settings: Folds and training (defaults when omitted).
        truth: Known true boxes (the SIMULATED round's shipped labels), to report the fold
            models' out-of-fold mAP50.

    Returns:
        The :class:`RealIssues`.
    """
    from roadmark_pipeline.model.evaluation import evaluate_detections
    from roadmark_pipeline.model.label_quality import cross_val_predictions, find_label_issues
    from roadmark_pipeline.model.offline import configure_ultralytics
    from roadmark_pipeline.model.score_scale import rescale_for_cleanlab
    from roadmark_pipeline.taxonomy import class_names

    settings = settings or RealCleanlab()
    names = class_names()
    configure_ultralytics(Path(work_dir) / "ultralytics")

    started = time.perf_counter()
    predictions = cross_val_predictions(
        frames,
        labels,
        names,
        k=settings.folds,
        group_column=settings.group_column,
        train_config=settings.train_config,
        work_dir=Path(work_dir),
        fold_by=settings.fold_by,
        block_size=settings.block_size,
    )
    wall_s = time.perf_counter() - started

    scaled = rescale_for_cleanlab(predictions, labels, high_precision=settings.high_precision)
    issues = find_label_issues(frames, labels, scaled, names)
    figures: dict[str, Any] = {"predictions": settings.describe(), "train_wall_s": round(wall_s)}
    if truth is not None:
        figures["oof_map50_vs_truth"] = evaluate_detections(truth, predictions, frames, names).map50
    LOG.info("real label issues: %s in %.0f s", settings.describe(), wall_s)
    return RealIssues(issues=issues, predictions=scaled, figures=figures)
