"""Overfit a tiny batch: the sanity check that runs before any full training.

A detector that cannot memorise eight frames, trained and scored on those same frames with
augmentation off, will not learn anything from the full set either: labels in the wrong
format, class ids shifted, boxes in the wrong units or a broken config all show up here in a
few minutes instead of after a long run.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from roadmark_pipeline.model.dataset import write_yolo_dataset
from roadmark_pipeline.model.evaluation import Evaluation, evaluate_detections
from roadmark_pipeline.model.predict import predict_frames
from roadmark_pipeline.model.training import TrainConfig, TrainResult, train_detector
from roadmark_pipeline.taxonomy import class_names as taxonomy_names

LOG = logging.getLogger(__name__)

# Augmentation off: the check asks "can the setup memorise these frames", nothing more.
NO_AUGMENTATION = {
    "fliplr": 0.0,
    "hsv_h": 0.0,
    "hsv_s": 0.0,
    "hsv_v": 0.0,
    "mosaic": 0.0,
    "scale": 0.0,
    "translate": 0.0,
    "close_mosaic": 0,
}


# Measured on the 2-core machine (docs/model.md, "Overfit check"): 8 real frames reach mAP50
# about 0.95 in about 3 minutes. A step every 2 images and no warm-up give the ~240 optimiser
# steps memorising needs; per-epoch validation is skipped (only the end result counts).
OVERFIT_CONFIG = TrainConfig(
    imgsz=320,
    epochs=60,
    batch=2,
    nbs=2,
    optimizer="AdamW",
    lr0=0.004,
    warmup_epochs=0.0,
    validate_every_epoch=False,
)


# Boxes whose shorter side is below this many pixels at the check's image size are left out:
# smaller than the detector's finest stride (8 px), they cannot be placed at IoU 0.5 at that
# resolution however well the setup works, and the check is about the setup.
MIN_BOX_SIDE = 8


class OverfitError(ValueError):
    """The tiny batch cannot be built (no frames with boxes)."""


@dataclass
class OverfitResult:
    """The outcome of :func:`overfit_check`.

    Attributes:
        passed: mAP50 on the memorised frames reached the target.
        map50: mAP50 measured on those same frames.
        target_map50: The bar it had to reach.
        frame_ids: The frames used.
        per_class_ap50: class -> AP50 (classes present in the frames only).
        epochs_run: Training epochs.
        wall_s: Seconds for training and scoring.
        weights: The memorising model (for inspection).
        reason: One sentence for the log and the asset check.
        config: The training config used (augmentation off).
        data_yaml: The dataset version it trained and was scored on: its label files hold
            exactly the boxes the check used (those visible at the check's size), so a
            cross-check such as ultralytics' ``val()`` reads the same ground truth.
        n_boxes: Boxes in that dataset.
    """

    passed: bool
    map50: float
    target_map50: float
    frame_ids: list[str]
    per_class_ap50: dict[str, float]
    epochs_run: int
    wall_s: float
    weights: Path
    reason: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    data_yaml: Path = field(default_factory=Path)
    n_boxes: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Return the result as plain values."""
        values = dataclasses.asdict(self)
        values["weights"] = str(self.weights)
        values["data_yaml"] = str(self.data_yaml)
        return values


def pick_tiny_batch(
    frames: pd.DataFrame, boxes: pd.DataFrame, n_frames: int, group_column: str = "source_sha256"
) -> list[str]:
    """Choose ``n_frames`` labelled frames that show as many classes and drives as possible.

    Each pick takes the frame adding the most unseen classes, then a drive not yet picked,
    then the rarest classes, then the most boxes; ties go to the smaller frame id, so the
    choice is reproducible.
    """
    labelled = boxes[boxes["frame_id"].isin(frames["frame_id"])]
    if labelled.empty:
        raise OverfitError("no frame has a box; the overfit check needs labelled frames")
    classes_of = labelled.groupby("frame_id")["class_id"].agg(frozenset)
    n_boxes = labelled.groupby("frame_id").size()
    rarity = 1.0 / labelled["class_id"].value_counts()
    groups = frames.set_index("frame_id").get(group_column)
    drive_of = groups.astype(str) if groups is not None else pd.Series(dtype=str)

    chosen: list[str] = []
    seen_classes: set[int] = set()
    seen_drives: set[str] = set()

    def gain(fid: str) -> tuple[int, int, float, int]:
        new_drive = int(drive_of.get(fid, fid) not in seen_drives)
        rare = float(sum(rarity[c] for c in classes_of[fid]))
        return len(classes_of[fid] - seen_classes), new_drive, rare, int(n_boxes[fid])

    candidates = sorted(classes_of.index)
    for _ in range(min(n_frames, len(candidates))):
        best = max((fid for fid in candidates if fid not in chosen), key=gain)
        chosen.append(best)
        seen_classes |= classes_of[best]
        seen_drives.add(drive_of.get(best, best))
    return sorted(chosen)


def visible_boxes(
    frames: pd.DataFrame, boxes: pd.DataFrame, imgsz: int, min_side: float = MIN_BOX_SIDE
) -> pd.DataFrame:
    """Keep the boxes whose shorter side is at least ``min_side`` px once resized to ``imgsz``."""
    longest = frames.set_index("frame_id")[["width", "height"]].max(axis=1)
    gain = imgsz / boxes["frame_id"].map(longest)
    shorter = np.minimum(boxes["x2"] - boxes["x1"], boxes["y2"] - boxes["y1"]) * gain
    return boxes[(shorter >= min_side).to_numpy()]


def overfit_check(
    frames: pd.DataFrame,
    boxes: pd.DataFrame,
    class_names: Sequence[str] | None = None,
    *,
    work_dir: Path,
    n_frames: int = 8,
    target_map50: float = 0.9,
    train_config: TrainConfig | None = None,
) -> OverfitResult:
    """Train on a tiny batch with augmentation off and score the model on that same batch.

    Args:
        frames: Candidate frames (``frame_id, path, width, height``, the drive column).
        boxes: Their boxes; those under ``MIN_BOX_SIDE`` px at the check's size are left out.
        class_names: Taxonomy order; the package taxonomy when omitted.
        work_dir: Receives ``dataset/`` and ``train/``.
        n_frames: Size of the tiny batch.
        target_map50: The bar for "near-perfect" (AP50 averaged over the classes present).
        train_config: Architecture, image size, epochs and optimiser of the check;
            augmentation is switched off whatever it says. ``OVERFIT_CONFIG`` when omitted.

    Returns:
        Whether the setup memorised the batch, with the measured mAP50. Boxes too small to
        see at all (wrong units, say) fail the check without training.
    """
    names = tuple(class_names or taxonomy_names())
    config = dataclasses.replace(train_config or OVERFIT_CONFIG, **NO_AUGMENTATION)
    kept = visible_boxes(frames, boxes, config.imgsz)
    LOG.info(
        "overfit check: %d of %d boxes are at least %d px at %d px",
        len(kept),
        len(boxes),
        MIN_BOX_SIDE,
        config.imgsz,
    )
    if kept.empty:
        return _nothing_visible(len(boxes), target_map50, config)

    chosen = pick_tiny_batch(frames, kept, n_frames)
    tiny = frames[frames["frame_id"].isin(chosen)]
    tiny_boxes = kept[kept["frame_id"].isin(chosen)]
    started = time.perf_counter()
    trained, evaluation, data_yaml = _memorise(tiny, tiny_boxes, names, config, Path(work_dir))
    wall_s = time.perf_counter() - started

    passed = bool(evaluation.map50 >= target_map50)
    reason = (
        f"{'memorised' if passed else 'could NOT memorise'} {len(chosen)} frames: mAP50 "
        f"{evaluation.map50:.3f} vs target {target_map50:.2f} after {trained.epochs_run} epochs"
    )
    if not passed:
        reason += "; check labels, class ids, box units and the training config before training"
    (LOG.info if passed else LOG.error)("overfit check: %s", reason)
    per_class = evaluation.per_class["ap50"].dropna().round(4).to_dict()
    return OverfitResult(
        passed=passed,
        map50=float(evaluation.map50),
        target_map50=target_map50,
        frame_ids=chosen,
        per_class_ap50={str(k): float(v) for k, v in per_class.items()},
        epochs_run=trained.epochs_run,
        wall_s=round(wall_s, 1),
        weights=trained.weights,
        reason=reason,
        config=config.to_dict(),
        data_yaml=data_yaml,
        n_boxes=len(tiny_boxes),
    )


def _nothing_visible(n_boxes: int, target_map50: float, config: TrainConfig) -> OverfitResult:
    """The failed result when no box is big enough to learn (no training is started)."""
    reason = (
        f"could NOT memorise: none of {n_boxes} boxes is {MIN_BOX_SIDE} px or more at "
        f"{config.imgsz} px; are the boxes in pixels of the frames table?"
    )
    LOG.error("overfit check: %s", reason)
    return OverfitResult(
        passed=False,
        map50=0.0,
        target_map50=target_map50,
        frame_ids=[],
        per_class_ap50={},
        epochs_run=0,
        wall_s=0.0,
        weights=Path(),
        reason=reason,
        config=config.to_dict(),
    )


def _memorise(
    tiny: pd.DataFrame,
    tiny_boxes: pd.DataFrame,
    names: tuple[str, ...],
    config: TrainConfig,
    work_dir: Path,
) -> tuple[TrainResult, Evaluation, Path]:
    """Train on the tiny batch, evaluate on the same frames; return the dataset's data.yaml."""
    assignment = pd.Series("train", index=tiny["frame_id"].to_numpy())
    info = write_yolo_dataset(tiny, tiny_boxes, assignment, names, work_dir / "dataset")
    trained = train_detector(info.data_yaml, config, work_dir / "train")
    predictions = predict_frames(trained.weights, tiny, imgsz=config.imgsz, conf=0.001)
    return trained, evaluate_detections(tiny_boxes, predictions, tiny, names), info.data_yaml
