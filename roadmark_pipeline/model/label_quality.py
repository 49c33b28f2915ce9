"""Label quality with cleanlab's object-detection scores, from out-of-sample predictions.

cleanlab 2.9 takes one dict of boxes per image and, per image, one (M_k, 5) array per class. An
image with no boxes must still bring arrays of the right shape ((0, 4), (0,), (0, 5)); a 1-D
empty array or a bare empty list fails deep inside cleanlab with an IndexError. The adapter
here always builds the right shapes, and :func:`check_cleanlab_inputs` rejects malformed ones
with a message that names the image.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from roadmark_pipeline.model.dataset import write_yolo_dataset
from roadmark_pipeline.model.folds import assign_folds
from roadmark_pipeline.model.predict import predict_frames
from roadmark_pipeline.model.training import TrainConfig, train_detector

LOG = logging.getLogger(__name__)

ISSUE_TYPES = {"overlooked": "overlooked", "swap": "swapped", "badloc": "badly_located"}
_XYXY = ["x1", "y1", "x2", "y2"]


class LabelQualityError(ValueError):
    """Inputs for the label-quality check are malformed or insufficient."""


def to_cleanlab_inputs(
    frames: pd.DataFrame,
    ground_truth: pd.DataFrame,
    predictions: pd.DataFrame,
    n_classes: int,
) -> tuple[list[dict[str, Any]], list[npt.NDArray[np.object_]]]:
    """Build cleanlab's object-detection inputs, one entry per frame in ``frames`` order.

    Args:
        frames: The frames (``frame_id``); frames without boxes get correctly shaped empties.
        ground_truth: Boxes table (``frame_id, class_id, x1, y1, x2, y2``).
        predictions: The same plus ``score``.
        n_classes: Number of classes K.

    Returns:
        ``(labels, predictions)``: ``labels[i] = {"bboxes": (L, 4) float, "labels": (L,) int,
        "image_name": frame_id}``; ``predictions[i]`` an object array of K arrays (M_k, 5)
        ``[x1, y1, x2, y2, score]``.

    Raises:
        LabelQualityError: When a class id is outside ``0..n_classes-1``.
    """
    for name, table in (("ground_truth", ground_truth), ("predictions", predictions)):
        ids = table["class_id"].to_numpy()
        if len(ids) and (ids.min() < 0 or ids.max() >= n_classes):
            raise LabelQualityError(
                f"{name} has class ids outside 0..{n_classes - 1}; pass n_classes that covers them"
            )
    truth_by_frame = dict(tuple(ground_truth.groupby("frame_id")))
    preds_by_frame = dict(tuple(predictions.groupby("frame_id")))

    labels, preds = [], []
    for fid in frames["frame_id"]:
        truth = truth_by_frame.get(fid)
        bboxes = np.zeros((0, 4)) if truth is None else truth[_XYXY].to_numpy(np.float64)
        classes = np.zeros((0,), int) if truth is None else truth["class_id"].to_numpy(np.int64)
        labels.append({"bboxes": bboxes, "labels": classes, "image_name": fid})
        preds.append(_per_class_arrays(preds_by_frame.get(fid), n_classes))
    return labels, preds


def _per_class_arrays(rows: pd.DataFrame | None, n_classes: int) -> npt.NDArray[np.object_]:
    """One (M_k, 5) array per class, (0, 5) for classes without detections."""
    arrays = np.empty(n_classes, dtype=object)
    for class_index in range(n_classes):
        arrays[class_index] = np.zeros((0, 5))
    if rows is not None:
        for class_index, group in rows.groupby("class_id"):
            arrays[int(class_index)] = group[[*_XYXY, "score"]].to_numpy(np.float64)
    return arrays


def _shape_problem(label: Any, prediction: Any, n_classes: int) -> str | None:
    """Describe what is wrong with one image's inputs, or None when they are well formed."""
    if not isinstance(label, dict) or "bboxes" not in label or "labels" not in label:
        return 'label must be a dict with "bboxes" and "labels"'
    bboxes, classes = np.asarray(label["bboxes"]), np.asarray(label["labels"])
    if bboxes.ndim != 2 or bboxes.shape[1] != 4:
        return f"bboxes has shape {bboxes.shape}; use (L, 4), np.zeros((0, 4)) when empty"
    if classes.ndim != 1 or len(classes) != len(bboxes):
        return f"labels has shape {classes.shape} for {len(bboxes)} boxes; use (L,), (0,) empty"
    if not isinstance(prediction, (list, np.ndarray)) or len(prediction) != n_classes:
        size = len(prediction) if hasattr(prediction, "__len__") else "no"
        return f"prediction holds {size} arrays; give one per class ({n_classes})"
    for class_index, array in enumerate(prediction):
        shape = np.shape(array)
        if len(shape) != 2 or shape[1] != 5:
            return (
                f"prediction for class {class_index} has shape {shape}; use (M, 5) "
                "[x1, y1, x2, y2, score], np.zeros((0, 5)) when empty"
            )
    return None


def check_cleanlab_inputs(
    labels: Sequence[Any], predictions: Sequence[Any], n_classes: int
) -> None:
    """Reject malformed cleanlab inputs with a clear error instead of cleanlab's IndexError.

    Raises:
        LabelQualityError: Naming the first bad image and the shape it needs.
    """
    if len(labels) != len(predictions):
        raise LabelQualityError(
            f"{len(labels)} label entries but {len(predictions)} prediction entries; "
            "give one of each per image"
        )
    for index, (label, prediction) in enumerate(zip(labels, predictions, strict=True)):
        problem = _shape_problem(label, prediction, n_classes)
        if problem:
            name = label.get("image_name", index) if isinstance(label, dict) else index
            raise LabelQualityError(f"image {name}: {problem}")


def unit_scores(scores: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Return cleanlab scores as float64 clipped to [0, 1].

    cleanlab pools box scores with a softmin (a softmax-weighted dot product) and combines the
    sub-scores as ``exp(sum(w * log(score)))``; both round, so a clean frame can come back as
    ``1.0000000000000002`` (nine boxes and no prediction do). Our scores promise [0, 1], so the
    rounding is clipped off here, once, for every score we return.
    """
    return np.clip(np.asarray(scores, dtype=np.float64), 0.0, 1.0)


def _subtype_scores(labels: list[dict], predictions: list) -> dict[str, npt.NDArray[np.float64]]:
    """Pooled per-image scores of each issue type (lower = more likely that issue)."""
    from cleanlab.object_detection import rank

    per_box = {
        "overlooked": rank.compute_overlooked_box_scores(labels=labels, predictions=predictions),
        "swap": rank.compute_swap_box_scores(labels=labels, predictions=predictions),
        "badloc": rank.compute_badloc_box_scores(labels=labels, predictions=predictions),
    }
    return {name: rank.pool_box_scores_per_image(scores) for name, scores in per_box.items()}


class _InProcessPool:
    """Stands in for ``multiprocessing.Pool`` inside cleanlab: runs each task here, in order."""

    def __init__(self, processes: int | None = None) -> None:
        self.processes = processes

    def starmap(self, func: Callable[..., Any], iterable: Iterable[Sequence[Any]]) -> list[Any]:
        """Call ``func`` on each argument tuple in this process and thread."""
        return list(itertools.starmap(func, iterable))

    def close(self) -> None:
        """Nothing to close: no workers were started."""

    def join(self) -> None:
        """Nothing to wait for: no workers were started."""

    def terminate(self) -> None:
        """Nothing to stop: no workers were started."""


_POOL_SWAP = threading.Lock()


@contextmanager
def _cleanlab_in_process() -> Iterator[None]:
    """Make cleanlab's object-detection filter compute in the calling process.

    cleanlab 2.9's ``filter.find_label_issues`` takes no process count: it forks a
    one-worker ``multiprocessing.Pool`` per IoU threshold for its per-class AP. Forked inside a
    Dagster run, the workers inherit the run's signal handlers and print
    DagsterExecutionInterruptedError tracebacks when the pool is torn down. The flags are the
    same either way, and staying in-process is cheaper, not dearer: about 4.4 ms per image
    against 8.0-8.6 ms with the pool on the 113 real frames (ratio 0.52-0.55, 2 cores;
    ``benchmarks/bench_label_quality.py``).
    """
    # TODO(a process-count argument on cleanlab's object-detection find_label_issues (absent in
    # 2.9), drop this swap once cleanlab has one)
    from cleanlab.object_detection import filter as cl_filter

    with _POOL_SWAP:
        original = getattr(cl_filter, "Pool", None)
        if original is None:
            LOG.debug("cleanlab filter has no Pool to replace; calling it unchanged")
            yield
            return
        cl_filter.Pool = _InProcessPool
        try:
            yield
        finally:
            cl_filter.Pool = original


def find_label_issues(
    frames: pd.DataFrame,
    ground_truth: pd.DataFrame,
    predictions: pd.DataFrame,
    class_names: Sequence[str],
) -> pd.DataFrame:
    """Score every frame's labels and flag the likely mistakes.

    Args:
        frames: The frames to check (``frame_id``).
        ground_truth: Their annotated boxes.
        predictions: Out-of-sample predictions (see :func:`cross_val_predictions`) with
            ``score``; in-sample predictions agree with the labels they learnt and hide issues.
        class_names: Taxonomy order.

    Returns:
        One row per frame, worst first: ``frame_id``, ``quality_score`` (0 bad .. 1 clean,
        clipped to [0, 1], see :func:`unit_scores`),
        ``is_issue``, ``issue_type`` (``"overlooked"``, ``"swapped"``, ``"badly_located"`` or
        ``""``) and the three pooled sub-scores ``overlooked_score``, ``swap_score``,
        ``badloc_score``.

    Raises:
        LabelQualityError: When there are no frames or the inputs are malformed.
    """
    from cleanlab.object_detection import filter as cl_filter
    from cleanlab.object_detection import rank

    if frames.empty:
        raise LabelQualityError("no frames to check; pass at least one frame")
    on_frames = predictions["frame_id"].isin(frames["frame_id"])
    if not on_frames.any():
        LOG.warning(
            "label quality: no predictions on the %d frames; every frame will score 1.0, which "
            "says nothing. Train the fold models longer (or from a local weights file)",
            len(frames),
        )
    labels, preds = to_cleanlab_inputs(frames, ground_truth, predictions, len(class_names))
    check_cleanlab_inputs(labels, preds, len(class_names))

    quality = unit_scores(rank.get_label_quality_scores(labels, preds, verbose=False))
    with _cleanlab_in_process():
        is_issue = np.asarray(cl_filter.find_label_issues(labels, preds), dtype=bool)
    subtypes = {
        name: unit_scores(scores) for name, scores in _subtype_scores(labels, preds).items()
    }
    stacked = np.vstack([subtypes[name] for name in ISSUE_TYPES])
    worst = np.array(list(ISSUE_TYPES.values()))[np.argmin(stacked, axis=0)]

    table = pd.DataFrame(
        {
            "frame_id": frames["frame_id"].to_numpy(),
            "quality_score": quality,
            "is_issue": is_issue,
            "issue_type": np.where(is_issue, worst, ""),
            **{f"{name}_score": subtypes[name] for name in ISSUE_TYPES},
        }
    )
    LOG.info("label quality: %d of %d frames flagged", int(is_issue.sum()), len(table))
    return table.sort_values("quality_score", kind="stable", ignore_index=True)


def cross_val_predictions(
    frames: pd.DataFrame,
    boxes: pd.DataFrame,
    class_names: Sequence[str],
    *,
    k: int,
    group_column: str,
    train_config: TrainConfig,
    work_dir: Path,
    conf: float = 0.001,
    fold_by: str = "drive",
    block_size: int = 4,
) -> pd.DataFrame:
    """Predict every frame with a model that never saw it (K-fold, see :func:`assign_folds`).

    Args:
        frames: Frames with ``frame_id``, ``path``, ``width``, ``height`` and the group column.
        boxes: Their annotated boxes.
        class_names: Taxonomy order.
        k: Number of folds (at least 2; with ``fold_by="drive"`` at most the number of drives).
        group_column: Frames column naming the drive.
        train_config: Training settings of each fold's model (keep them small).
        work_dir: Receives ``fold<i>/dataset`` and ``fold<i>/train`` per fold.
        conf: Lowest score kept in the predictions.
        fold_by: ``"drive"`` (whole drives held out: never sees the drive), ``"block"`` (runs
            of ``block_size`` consecutive frames held out) or ``"frame"``. For the label-error
            search ``"block"`` gives the better predictions (docs/labeling.md).
        block_size: Frames per held-out run with ``fold_by="block"``.

    Returns:
        Predictions (boxes table with ``score``) for every frame, plus the ``fold`` column.
    """
    folds = assign_folds(frames, group_column, k, fold_by=fold_by, block_size=block_size)
    outputs = []
    for fold in range(k):
        held_out = folds.to_numpy() == fold
        train_frames, test_frames = frames[~held_out], frames[held_out]
        train_boxes = boxes[boxes["frame_id"].isin(train_frames["frame_id"])]
        assignment = pd.Series("train", index=train_frames["frame_id"].to_numpy())
        fold_dir = Path(work_dir) / f"fold{fold}"
        info = write_yolo_dataset(
            train_frames, train_boxes, assignment, class_names, fold_dir / "dataset"
        )
        result = train_detector(info.data_yaml, train_config, fold_dir / "train")
        predicted = predict_frames(result.weights, test_frames, imgsz=train_config.imgsz, conf=conf)
        outputs.append(predicted.assign(fold=fold))
        LOG.info(
            "fold %d/%d: trained on %d frames, predicted %d",
            fold + 1,
            k,
            len(train_frames),
            len(test_frames),
        )
    return pd.concat(outputs, ignore_index=True)
