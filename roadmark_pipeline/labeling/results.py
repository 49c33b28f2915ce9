"""Our pixel boxes -> Label Studio result items (annotations and pre-annotations)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from roadmark_pipeline.labeling.config import (
    BORDERLINE_CHOICE,
    BORDERLINE_NAME,
    BOXES_NAME,
    IMAGE_NAME,
)
from roadmark_pipeline.labeling.geometry import PixelBox, pixels_to_rectangle
from roadmark_pipeline.video.still import open_image

LOG = logging.getLogger(__name__)

_EXIF_ORIENTATION = 0x0112
_REGION_ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def region_id() -> str:
    """A fresh 10-character region id, the shape Label Studio's editor uses."""
    return "".join(secrets.choice(_REGION_ID_CHARS) for _ in range(10))


def boxes_to_results(
    boxes: pd.DataFrame, width: int, height: int, class_names: Sequence[str]
) -> list[dict[str, Any]]:
    """Turn a boxes table into Label Studio result items.

    Args:
        boxes: ``class_id, x1, y1, x2, y2`` in pixels of the upright image; optional ``score``
            (pre-annotations) and ``borderline`` (bool).
        width: Image width in pixels (``original_width``).
        height: Image height in pixels (``original_height``).
        class_names: Class names in id order (the project's labeling config).

    Returns:
        One ``rectanglelabels`` item per box, plus a ``choices`` item on the same region id for
        every borderline box.

    Raises:
        ValueError: When a class id is outside the config's classes or a size is not positive.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image size {width}x{height} must be positive")
    results: list[dict[str, Any]] = []
    for row in boxes.to_dict("records"):
        class_id = int(row["class_id"])
        if not 0 <= class_id < len(class_names):
            raise ValueError(
                f"class id {class_id} outside the labeling config's {len(class_names)} classes"
            )
        box = PixelBox(float(row["x1"]), float(row["y1"]), float(row["x2"]), float(row["y2"]))
        geometry = pixels_to_rectangle(box, width, height)
        common = {
            "id": region_id(),
            "to_name": IMAGE_NAME,
            "original_width": int(width),
            "original_height": int(height),
            "image_rotation": 0,
        }
        item = {
            **common,
            "from_name": BOXES_NAME,
            "type": "rectanglelabels",
            "value": {**geometry, "rectanglelabels": [class_names[class_id]]},
        }
        if "score" in row and pd.notna(row["score"]):
            item["score"] = float(row["score"])
        results.append(item)
        if _is_true(row.get("borderline")):
            results.append(
                {
                    **common,
                    "from_name": BORDERLINE_NAME,
                    "type": "choices",
                    "value": {**geometry, "choices": [BORDERLINE_CHOICE]},
                }
            )
    return results


def _is_true(value: Any) -> bool:
    """A flag from a table cell: missing (None/NaN) reads as False, not as a truthy NaN."""
    return value is not None and not (isinstance(value, float) and value != value) and bool(value)


def exif_orientation(path: Path) -> int:
    """Return the EXIF orientation tag of an image file (1 when absent or unreadable).

    Args:
        path: The image file.

    Returns:
        1..8; 1 means the stored pixels are already upright.
    """
    try:
        with open_image(path) as image:
            value = int(image.getexif().get(_EXIF_ORIENTATION, 1))
    except (OSError, SyntaxError, TypeError, ValueError):  # UnreadableSourceError included
        return 1
    return value if 1 <= value <= 8 else 1


def predictions_by_frame(predictions: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    """Split a predictions boxes table by frame id (empty dict for None/empty)."""
    if predictions is None or predictions.empty:
        return {}
    missing = {"frame_id", "class_id", "x1", "y1", "x2", "y2"} - set(predictions.columns)
    if missing:
        raise ValueError(f"predictions: missing columns {sorted(missing)}")
    return {str(key): group for key, group in predictions.groupby("frame_id", sort=False)}


def table_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a table as dicts, column order kept."""
    return [dict(zip(frame.columns, values, strict=True)) for values in frame.itertuples(False)]


def task_data_value(value: Any) -> Any:
    """A task-data value JSON can carry: numpy scalars unwrapped, timestamps as ISO text."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return None if isinstance(value, float) and np.isnan(value) else value
    return str(value)
