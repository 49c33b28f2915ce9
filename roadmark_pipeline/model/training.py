"""Train the road-marking detector (ultralytics YOLO) with a declared augmentation policy.

The policy is part of the config, not hidden in defaults: colour jitter is on (dashcams see
every light), horizontal flip is off by default because our fleet drives on the left, and a
mirrored scene is not a real one. Nothing is downloaded: with no local weights file the model
starts from the architecture yaml (random weights), and the log says so loudly.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOG = logging.getLogger(__name__)

BEST_NAME = "best.pt"
RUN_NAME = "run"


class TrainingError(RuntimeError):
    """Training could not start or produced no weights."""


@dataclass(frozen=True)
class TrainConfig:
    """How to train the detector.

    Attributes:
        model: Architecture yaml used when no weights file is given (random init).
        weights: A local ``.pt`` file to fine-tune from; absent file -> warning, yaml used.
        imgsz: Training and validation image size (pixels, multiple of 32).
        epochs: Epochs to run (early stopping may end sooner, see ``patience``).
        batch: Images per batch.
        nbs: Nominal batch size: gradients accumulate over ``nbs / batch`` batches before a
            step. ultralytics' 64 suits large sets; on a few hundred frames it leaves few steps
            per epoch, so we step every ``nbs`` images with a smaller value.
        seed: Seed for ultralytics, torch and numpy; runs are deterministic on CPU.
        fliplr: Horizontal flip probability. 0 by default: left-hand traffic, a mirrored scene
            puts the oncoming lane on the wrong side and is not a real scene.
        hsv_h: Hue jitter (colour jitter is on: paint colour under any light).
        hsv_s: Saturation jitter.
        hsv_v: Brightness jitter.
        mosaic: Mosaic augmentation probability.
        scale: Random zoom range.
        translate: Random shift range.
        close_mosaic: Last epochs trained without mosaic.
        device: ``"auto"`` (first GPU when present, else CPU), ``"cpu"`` or a CUDA index.
        workers: Data-loader workers (0: load in the training process).
        patience: Epochs without improvement before stopping early.
        optimizer: ultralytics optimizer name (``"auto"`` picks by run length).
        lr0: Initial learning rate (used unless ``optimizer="auto"``).
        warmup_epochs: Learning-rate warm-up epochs.
        amp: Mixed precision on GPU. Off: ultralytics' AMP self-check fetches weights online.
        validate_every_epoch: Validate after each epoch (best.pt = best epoch). Off, only the
            last epoch is validated and kept: saves the validation time on CPU.
        verbose: Let ultralytics log every epoch.
        extra: Further ultralytics train arguments, passed as they are.
    """

    model: str = "yolo11n.yaml"
    weights: str | None = None
    imgsz: int = 640
    epochs: int = 25
    batch: int = 8
    nbs: int = 64
    seed: int = 0
    fliplr: float = 0.0
    hsv_h: float = 0.015
    hsv_s: float = 0.7
    hsv_v: float = 0.4
    mosaic: float = 1.0
    scale: float = 0.5
    translate: float = 0.1
    close_mosaic: int = 10
    device: str = "auto"
    workers: int = 0
    patience: int = 100
    optimizer: str = "auto"
    lr0: float = 0.01
    warmup_epochs: float = 3.0
    amp: bool = False
    validate_every_epoch: bool = True
    verbose: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def augmentation_policy(self) -> dict[str, float]:
        """Return the augmentation settings, for metadata and the model card."""
        names = ("fliplr", "hsv_h", "hsv_s", "hsv_v", "mosaic", "scale", "translate")
        return {name: float(getattr(self, name)) for name in names}

    def to_dict(self) -> dict[str, Any]:
        """Return the config as plain values."""
        return dataclasses.asdict(self)


@dataclass
class TrainResult:
    """The outcome of :func:`train_detector`.

    Attributes:
        weights: ``best.pt`` copied under the output folder.
        init: ``"scratch: <yaml>"`` or ``"weights: <path>"``.
        device: The device trained on (``"cpu"`` or ``"cuda:0"``...).
        epochs_run: Epochs actually run (early stopping can end sooner).
        wall_s: Training wall time in seconds.
        metrics: Validation metrics of the best epoch (precision, recall, map50, map50_95).
        config: The config used.
    """

    weights: Path
    init: str
    device: str
    epochs_run: int
    wall_s: float
    metrics: dict[str, float]
    config: TrainConfig

    def to_dict(self) -> dict[str, Any]:
        """Return the result as plain values (for metadata and ``train_result.json``)."""
        values = dataclasses.asdict(self)
        values["weights"] = str(self.weights)
        return values


def resolve_device(device: str) -> str:
    """Turn ``"auto"`` into the first CUDA GPU when one is visible, else ``"cpu"``."""
    if device != "auto":
        return device
    import torch

    return "0" if torch.cuda.is_available() else "cpu"


def choose_init(config: TrainConfig) -> tuple[str, str]:
    """Decide what training starts from.

    Returns:
        ``(source, init)``: the path or yaml handed to ultralytics, and its description.

    Raises:
        TrainingError: When the weights file exists but is not a ``.pt`` file.
    """
    if config.weights:
        weights = Path(config.weights).expanduser()
        if weights.is_file() and weights.suffix.lower() != ".pt":
            raise TrainingError(
                f"{weights}: not a .pt weights file; pass the best.pt of a training run"
            )
        if weights.is_file():
            LOG.info("fine-tuning from local weights %s", weights)
            return str(weights), f"weights: {weights}"
        LOG.warning(
            "WEIGHTS FILE NOT FOUND: %s. Falling back to %s with RANDOM weights; nothing is "
            "downloaded. Put the .pt file there or unset TrainConfig.weights",
            weights,
            config.model,
        )
    else:
        LOG.warning(
            "TRAINING FROM SCRATCH: no weights file configured, %s starts from random weights "
            "(expect low scores on small data); set TrainConfig.weights to fine-tune",
            config.model,
        )
    return config.model, f"scratch: {config.model}"


def _train_arguments(config: TrainConfig, data_yaml: Path, project: Path, device: str) -> dict:
    """The keyword arguments handed to ultralytics' ``train``."""
    arguments = {
        "data": str(data_yaml),
        "imgsz": config.imgsz,
        "epochs": config.epochs,
        "batch": config.batch,
        "nbs": config.nbs,
        "seed": config.seed,
        "deterministic": True,
        "device": device,
        "workers": config.workers,
        "patience": config.patience,
        "optimizer": config.optimizer,
        "lr0": config.lr0,
        "warmup_epochs": config.warmup_epochs,
        "close_mosaic": config.close_mosaic,
        "amp": config.amp,
        "val": config.validate_every_epoch,
        "project": str(project),
        "name": RUN_NAME,
        "exist_ok": True,
        "plots": False,
        "verbose": config.verbose,
        **config.augmentation_policy(),
    }
    arguments.update(config.extra)
    return arguments


def _summarise_metrics(metrics: Any) -> dict[str, float]:
    """Map ultralytics' DetMetrics (or its dict) to short names."""
    values = getattr(metrics, "results_dict", metrics) or {}
    names = {
        "metrics/precision(B)": "precision",
        "metrics/recall(B)": "recall",
        "metrics/mAP50(B)": "map50",
        "metrics/mAP50-95(B)": "map50_95",
    }
    return {short: float(values[key]) for key, short in names.items() if key in values}


def train_detector(data_yaml: Path, config: TrainConfig, out_dir: Path) -> TrainResult:
    """Train a detector on a dataset version and keep its best weights.

    Args:
        data_yaml: The version's ``data.yaml`` (from ``write_yolo_dataset``).
        config: Architecture or weights, image size, epochs, seed, augmentation policy, device.
        out_dir: Run folder; receives ``best.pt``, ``train_result.json`` and ultralytics' run
            files under ``run/``.

    Returns:
        Best weights, how training started, device, epochs run, wall time, metrics.

    Raises:
        TrainingError: When ``data_yaml`` is missing, the weights file is not a YOLO checkpoint,
            or training saved no weights.
    """
    from roadmark_pipeline.lake import copy_file_atomic, write_json_atomic
    from roadmark_pipeline.model.offline import ensure_offline

    data_yaml = Path(data_yaml)
    if not data_yaml.is_file():
        raise TrainingError(f"{data_yaml}: no data.yaml; pass the one write_yolo_dataset wrote")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ensure_offline()
    from ultralytics import YOLO

    source, init = choose_init(config)
    device = resolve_device(config.device)
    LOG.info(
        "training %s on %s: %d epochs at %d px, device %s",
        init,
        data_yaml,
        config.epochs,
        config.imgsz,
        device,
    )

    started = time.perf_counter()
    try:
        model = YOLO(source)
    except Exception as error:  # ultralytics raises TypeError, pickle and zip errors alike
        raise TrainingError(
            f"{source}: not a YOLO weights file ({type(error).__name__}); pass a .pt file from "
            "training, or leave TrainConfig.weights unset to train from the yaml"
        ) from error
    metrics = model.train(**_train_arguments(config, data_yaml, out_dir, device))
    wall_s = time.perf_counter() - started

    trainer = model.trainer
    produced = Path(trainer.best) if Path(trainer.best).is_file() else Path(trainer.last)
    if not produced.is_file():
        raise TrainingError(f"training in {out_dir} saved no weights; read {out_dir / RUN_NAME}")
    weights = out_dir / BEST_NAME
    copy_file_atomic(produced, weights)

    result = TrainResult(
        weights=weights,
        init=init,
        device=str(trainer.device),
        epochs_run=int(trainer.epoch) + 1,
        wall_s=round(wall_s, 1),
        metrics=_summarise_metrics(metrics),
        config=config,
    )
    write_json_atomic(out_dir / "train_result.json", result.to_dict())
    LOG.info(
        "trained %d epochs in %.0f s on %s: %s",
        result.epochs_run,
        wall_s,
        result.device,
        result.metrics,
    )
    return result
