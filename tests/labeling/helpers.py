"""Factories for Label Studio export fragments used across the labeling tests."""

from __future__ import annotations

from typing import Any


def rect(
    x: float,
    y: float,
    w: float,
    h: float,
    label: str,
    *,
    ow: int = 1000,
    oh: int = 500,
    rotation: float = 0.0,
    region: str = "r1",
) -> dict[str, Any]:
    """One rectanglelabels result in percent."""
    return {
        "id": region,
        "type": "rectanglelabels",
        "from_name": "label",
        "to_name": "image",
        "original_width": ow,
        "original_height": oh,
        "image_rotation": 0,
        "value": {
            "x": x,
            "y": y,
            "width": w,
            "height": h,
            "rotation": rotation,
            "rectanglelabels": [label],
        },
    }


def borderline(region: str) -> dict[str, Any]:
    """The per-region borderline choice for ``region``."""
    return {
        "id": region,
        "type": "choices",
        "from_name": "borderline",
        "to_name": "image",
        "value": {"choices": ["borderline"]},
    }


def task(
    task_id: int,
    annotations: list[dict[str, Any]],
    *,
    data: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One exported task."""
    return {
        "id": task_id,
        "data": {"image": f"/data/local-files/?d=frames/t{task_id}.jpg", **(data or {})},
        "meta": meta or {},
        "annotations": annotations,
    }


def annotation(
    annotation_id: int,
    results: list[dict[str, Any]],
    *,
    user: int | dict[str, Any] | None = 1,
    cancelled: bool = False,
    created_at: str = "2026-01-01T10:00:00Z",
    lead_time: float | None = 10.0,
) -> dict[str, Any]:
    """One exported annotation."""
    return {
        "id": annotation_id,
        "completed_by": user,
        "was_cancelled": cancelled,
        "result": results,
        "created_at": created_at,
        "updated_at": created_at,
        "lead_time": lead_time,
    }
