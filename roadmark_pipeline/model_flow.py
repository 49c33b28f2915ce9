"""The training chain's decisions that the Dagster assets share: reuse, sanity, gate, promotion.

Plain functions over the model room's library, so a notebook can run the same chain.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from roadmark_pipeline import lake
from roadmark_pipeline.model.evaluation import Evaluation, evaluate_detections
from roadmark_pipeline.model.gate import GateDecision, gate
from roadmark_pipeline.model.overfit import OverfitResult, overfit_check
from roadmark_pipeline.model.predict import predict_frames
from roadmark_pipeline.model.registry import ModelEntry, ModelRegistry
from roadmark_pipeline.model.training import TrainConfig, train_detector
from roadmark_pipeline.taxonomy import class_names

LOG = logging.getLogger(__name__)

RECORD = "record.json"


def digest(*parts: Any) -> str:
    """Return a 16-hex digest of JSON-serialisable parts (key-sorted)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def train_or_reuse(
    data_yaml: Path, dataset: str, config: TrainConfig, models_root: Path, *, reuse: bool
) -> tuple[dict[str, Any], bool]:
    """Train a detector, or return the one already trained on the same data and settings.

    Args:
        data_yaml: The dataset version's ``data.yaml``.
        dataset: The dataset version (part of the model id).
        config: Training settings (the rest of the model id).
        models_root: ``<lake>/models``; the model lives in ``<models_root>/<model id>/``.
        reuse: Reuse an existing model with the same id.

    Returns:
        The model record (id, weights, init, device, settings, metrics) and whether it was
        reused.
    """
    settings = {key: value for key, value in asdict(config).items() if key != "verbose"}
    model_id = digest(dataset, settings)
    record_path = models_root / model_id / RECORD
    if reuse and record_path.exists():
        return json.loads(record_path.read_text()), True

    result = train_detector(data_yaml, config, models_root / model_id)
    record = {
        "model_id": model_id,
        "dataset_version": dataset,
        "weights": str(result.weights),
        "init": result.init,
        "device": result.device,
        "epochs_run": result.epochs_run,
        "wall_s": result.wall_s,
        "val_metrics": result.metrics,
        "settings": settings,
    }
    lake.write_json_atomic(record_path, record)
    return record, False


def overfit_or_reuse(
    frames: pd.DataFrame, boxes: pd.DataFrame, work_root: Path, *, n_frames: int, target: float
) -> OverfitResult:
    """Run the overfit sanity check on the training frames, once per data and settings.

    The verdict is kept beside the check's model: the same frames, boxes and settings give the
    same verdict, so a second run of the chain does not train the check again.
    """
    train = frames[frames["split"] == "train"].sort_values("frame_id")
    key = digest(
        sorted(train["frame_id"]),
        n_frames,
        target,
        pd.util.hash_pandas_object(boxes, index=False).sum(),
    )
    verdict_path = work_root / key / "overfit.json"
    if verdict_path.exists():
        values = json.loads(verdict_path.read_text())
        return OverfitResult(**{**values, "weights": Path(values["weights"])})

    result = overfit_check(
        train,
        boxes[boxes["frame_id"].isin(train["frame_id"])],
        class_names(),
        work_dir=work_root / key,
        n_frames=n_frames,
        target_map50=target,
    )
    lake.write_json_atomic(verdict_path, asdict(result) | {"weights": str(result.weights)})
    return result


def production_evaluation_on(
    registry: ModelRegistry,
    candidate: Evaluation,
    truth: pd.DataFrame,
    frames: pd.DataFrame,
    imgsz: int,
) -> Evaluation | None:
    """Return production's evaluation on the candidate's test set (re-evaluated if needed).

    The stored evaluation is used when it was made on the same test frames and ground truth
    (same fingerprint); otherwise production's weights are run on the candidate's test frames,
    so the gate always compares like with like.
    """
    entry = registry.production()
    if entry is None:
        return None
    stored = registry.production_evaluation()
    if stored is not None and stored.test_fingerprint == candidate.test_fingerprint:
        return stored
    LOG.info(
        "production %s was evaluated on another test set; evaluating it on this one", entry.model_id
    )
    predictions = predict_frames(Path(entry.weights), frames, imgsz=imgsz)
    return evaluate_detections(truth, predictions, frames, class_names())


def gate_candidate(
    registry: ModelRegistry,
    candidate: Evaluation,
    truth: pd.DataFrame,
    frames: pd.DataFrame,
    *,
    imgsz: int,
    tolerance: float,
    candidate_id: str,
) -> GateDecision:
    """Decide whether the candidate may replace production on the same test set."""
    current = registry.production()
    if current is not None and current.model_id == candidate_id:
        return GateDecision(
            True, ["the candidate is already in production"], candidate.map50, current.map50
        )
    production = production_evaluation_on(registry, candidate, truth, frames, imgsz)
    return gate(candidate, production, tolerance=tolerance)


def promote_if_new(
    registry: ModelRegistry,
    weights: Path,
    evaluation: Evaluation,
    decision: GateDecision,
    *,
    onnx: Path,
    model_id: str,
) -> tuple[ModelEntry, bool]:
    """Move the production pointer to the model unless it is already there.

    Returns:
        The production entry, and True when the pointer moved.
    """
    current = registry.production()
    if current is not None and current.model_id == model_id:
        return current, False
    return registry.promote(weights, evaluation, decision, onnx=onnx, model_id=model_id), True


def production_predictions(
    registry: ModelRegistry, models_root: Path, frames: pd.DataFrame, *, conf: float = 0.25
) -> tuple[pd.DataFrame | None, str | None]:
    """Predict frames with the production model, as pre-annotations for annotators to correct.

    Args:
        registry: The model registry.
        models_root: ``<lake>/models`` (the model's record gives its image size).
        frames: ``frame_id`` and ``path`` of the frames.
        conf: Lowest score worth showing an annotator.

    Returns:
        The boxes table and the model's id, or ``(None, None)`` before the first promotion.
    """
    entry = registry.production()
    if entry is None or frames.empty:
        return None, None
    record_path = models_root / entry.model_id / RECORD
    imgsz = (
        json.loads(record_path.read_text())["settings"]["imgsz"] if record_path.exists() else 640
    )
    predictions = predict_frames(Path(entry.weights), frames, imgsz=int(imgsz), conf=conf)
    return predictions, entry.model_id
