"""Our frames as Label Studio tasks: checked inputs, local-files image URLs, pre-annotations."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd

from roadmark_pipeline.labeling.results import boxes_to_results, exif_orientation, task_data_value
from roadmark_pipeline.labeling.sdk import LabelingError

FRAME_COLUMNS = ("frame_id", "path", "width", "height")
PREDICTION_COLUMNS = ("frame_id", "class_id", "x1", "y1", "x2", "y2")


def check_import_inputs(
    frames: pd.DataFrame, predictions: pd.DataFrame | None, model_version: str | None
) -> None:
    """Refuse frames and predictions that cannot become tasks.

    Raises:
        LabelingError: When a required column is missing, a frame id repeats, or predictions
            come without a model version.
    """
    _require_columns(frames, FRAME_COLUMNS, "frames")
    if frames["frame_id"].duplicated().any():
        repeated = frames.loc[frames["frame_id"].duplicated(), "frame_id"].tolist()[:5]
        raise LabelingError(f"frames: frame ids repeat {repeated}; one row per frame")
    if predictions is not None and not model_version:
        raise LabelingError("predictions need model_version= (the model that made them)")
    if predictions is not None:
        _require_columns(predictions, PREDICTION_COLUMNS, "predictions")


def local_files_url(path: str | Path, local_root: Path, document_root: Path) -> str:
    """Return the Label Studio URL of a frame file served from a local-files storage.

    Args:
        path: Absolute path of the image, under ``local_root``.
        local_root: Resolved folder the project's frames live under.
        document_root: Resolved local-files document root of the server.

    Returns:
        ``/data/local-files/?d=<path relative to the document root>``.

    Raises:
        LabelingError: When the file lies outside ``local_root``.
    """
    resolved = Path(path).resolve()
    if not resolved.is_relative_to(local_root):
        raise LabelingError(
            f"{path}: not under the project's local root {local_root}; write frames "
            "there or ensure the project with a local_root above them"
        )
    relative = resolved.relative_to(document_root).as_posix()
    return f"/data/local-files/?d={quote(relative)}"


def build_task(
    row: dict[str, Any],
    image_url: str,
    boxes: pd.DataFrame | None,
    model_version: str | None,
    class_names: Sequence[str],
) -> dict[str, Any]:
    """One task to import: image URL, frame id, size, metadata and pre-annotations.

    Args:
        row: One frame: ``frame_id, path, width, height`` and any metadata to carry.
        image_url: The frame's URL on the server (see :func:`local_files_url`).
        boxes: The frame's predicted boxes (pixels, optional ``score``), or None.
        model_version: The model that made ``boxes``.
        class_names: The project's classes in id order.

    Returns:
        The task dict for ``projects.import_tasks``.
    """
    data = {key: task_data_value(value) for key, value in row.items() if key != "path"}
    data["image"] = image_url
    data["frame_id"] = str(row["frame_id"])
    data["width"], data["height"] = int(row["width"]), int(row["height"])
    data["file"] = Path(row["path"]).name
    orientation = exif_orientation(Path(row["path"]))
    if orientation != 1:
        data["exif_orientation"] = orientation
    task: dict[str, Any] = {"data": data}

    if boxes is not None and len(boxes):
        result = boxes_to_results(boxes, data["width"], data["height"], class_names)
        task["predictions"] = [
            {
                "model_version": model_version,
                "score": float(boxes["score"].mean()) if "score" in boxes else 1.0,
                "result": result,
            }
        ]
    return task


def _require_columns(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise LabelingError(f"{what}: missing columns {missing}; expected at least {list(columns)}")
