"""Run-config pieces shared by several assets."""

import dagster as dg

from roadmark_pipeline.model.training import TrainConfig


class TrainSettings(dg.Config):
    """Detector training settings (see ``roadmark_pipeline.model.training.TrainConfig``).

    Attributes:
        model: Architecture yaml used when no weights file is given (random init).
        weights: A local ``.pt`` file to fine-tune from; absent files fall back loudly.
        imgsz: Training image size.
        epochs: Training epochs.
        batch: Batch size.
        nbs: Images per optimiser step (ultralytics' nominal batch size).
        optimizer: ultralytics optimiser name (``auto`` picks by run length).
        lr0: Initial learning rate (used unless the optimiser is ``auto``).
        warmup_epochs: Learning-rate warm-up.
        seed: Training seed.
        fliplr: Horizontal-flip probability; 0 by default: under left-hand traffic a mirrored
            scene is not a real scene (the centre line and barriers change sides).
    """

    model: str = "yolo11n.yaml"
    weights: str | None = None
    imgsz: int = 640
    epochs: int = 25
    batch: int = 8
    nbs: int = 64
    optimizer: str = "auto"
    lr0: float = 0.01
    warmup_epochs: float = 3.0
    seed: int = 0
    fliplr: float = 0.0

    def to_train_config(self) -> TrainConfig:
        """Return the library's training config (no per-epoch validation: no val split)."""
        fields = {name: getattr(self, name) for name in TrainSettings.model_fields}
        return TrainConfig(**fields, validate_every_epoch=False)


def cpu_cross_val_settings() -> TrainSettings:
    """Fold-model settings that learn something in minutes on two CPU cores (docs/model.md)."""
    return TrainSettings(
        imgsz=320, epochs=12, batch=4, nbs=8, optimizer="AdamW", lr0=0.003, warmup_epochs=0.0
    )
