"""Run a trained detector over frames and return a boxes table with scores."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from roadmark_pipeline.taxonomy import class_names as taxonomy_names

LOG = logging.getLogger(__name__)

PREDICTION_COLUMNS = ("frame_id", "class_id", "class_name", "x1", "y1", "x2", "y2", "score")
_BATCH = 8


class PredictionError(ValueError):
    """The weights or frames cannot be used for prediction."""


def load_model(weights: Path, names: Sequence[str] | None = None) -> Any:
    """Load a YOLO weights file offline and check its classes follow the taxonomy.

    Args:
        weights: A ``.pt`` file written by training.
        names: Expected class names in id order; the package taxonomy when omitted.

    Returns:
        The ultralytics ``YOLO`` model.

    Raises:
        PredictionError: When the file is missing, not a YOLO checkpoint, or its class names
            differ from the taxonomy.
    """
    from roadmark_pipeline.model.offline import ensure_offline

    weights = Path(weights)
    if not weights.is_file():
        raise PredictionError(
            f"{weights}: weights file missing; pass the best.pt of a training run"
        )
    if weights.suffix.lower() != ".pt":
        # ultralytics takes other suffixes for other backends and fails only when predicting.
        raise PredictionError(f"{weights}: not a .pt file; pass the best.pt of a training run")
    ensure_offline()
    from ultralytics import YOLO

    try:
        model = YOLO(str(weights))
    except Exception as error:  # ultralytics raises TypeError, pickle and zip errors alike
        raise PredictionError(
            f"{weights}: not a YOLO weights file ({type(error).__name__}); pass the best.pt of "
            "a training run"
        ) from error
    expected = list(names or taxonomy_names())
    found = [model.names[index] for index in sorted(model.names)]
    if found != expected:
        raise PredictionError(
            f"{weights}: the model's classes {found} differ from the taxonomy {expected}; "
            "retrain on a dataset written with class_names()"
        )
    return model


def _result_rows(result: Any, fid: str, names: Sequence[str]) -> list[dict]:
    """Turn one ultralytics result (boxes in original pixels) into table rows."""
    boxes = result.boxes
    xyxy = boxes.xyxy.cpu().numpy().astype(np.float64)
    scores = boxes.conf.cpu().numpy().astype(np.float64)
    classes = boxes.cls.cpu().numpy().astype(np.int64)
    return [
        {
            "frame_id": fid,
            "class_id": int(cls),
            "class_name": names[int(cls)],
            "x1": float(box[0]),
            "y1": float(box[1]),
            "x2": float(box[2]),
            "y2": float(box[3]),
            "score": float(score),
        }
        for box, score, cls in zip(xyxy, scores, classes, strict=True)
    ]


def predict_frames(
    weights: Path,
    frames: pd.DataFrame,
    *,
    imgsz: int,
    conf: float = 0.001,
    iou: float = 0.6,
    max_det: int = 300,
    device: str = "auto",
) -> pd.DataFrame:
    """Predict boxes on every frame.

    Args:
        weights: The detector's ``.pt`` file.
        frames: ``frame_id`` and ``path`` of each frame.
        imgsz: Inference size (use the training size).
        conf: Lowest score kept; keep it low for evaluation so whole PR curves are seen.
        iou: NMS IoU threshold.
        max_det: Most detections kept per frame.
        device: ``"auto"`` (GPU when present), ``"cpu"`` or a CUDA index.

    Returns:
        Boxes table ``frame_id, class_id, class_name, x1, y1, x2, y2, score`` in original-frame
        pixels.

    Raises:
        PredictionError: When the weights or a frame image is missing.
    """
    from roadmark_pipeline.model.training import resolve_device

    missing = [path for path in frames["path"] if not Path(path).is_file()]
    if missing:
        raise PredictionError(f"{len(missing)} frame images missing (e.g. {missing[0]})")
    model = load_model(weights)
    names = [model.names[index] for index in sorted(model.names)]

    rows: list[dict] = []
    paths = [str(path) for path in frames["path"]]
    ids = list(frames["frame_id"])
    arguments = {"imgsz": imgsz, "conf": conf, "iou": iou, "max_det": max_det, "verbose": False}
    arguments["device"] = resolve_device(device)
    for start in range(0, len(paths), _BATCH):
        results = model.predict(paths[start : start + _BATCH], **arguments)
        for fid, result in zip(ids[start : start + _BATCH], results, strict=True):
            rows.extend(_result_rows(result, fid, names))
    LOG.info("predicted %d boxes on %d frames at %d px", len(rows), len(paths), imgsz)
    return pd.DataFrame(rows, columns=list(PREDICTION_COLUMNS))
