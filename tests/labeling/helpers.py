"""Factories for Label Studio export fragments used across the labeling tests."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
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


def _first_result(broken: dict[str, Any]) -> dict[str, Any]:
    return broken["annotations"][0]["result"][0]


def _set_value(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(broken: dict[str, Any]) -> None:
        _first_result(broken)["value"][key] = value

    return change


def _set_result(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(broken: dict[str, Any]) -> None:
        _first_result(broken)[key] = value

    return change


def _drop_size(broken: dict[str, Any]) -> None:
    del _first_result(broken)["original_width"]
    del _first_result(broken)["original_height"]


def _set_annotation(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(broken: dict[str, Any]) -> None:
        broken["annotations"][0][key] = value

    return change


# Ways a task's one box cannot be converted: each must leave the task out (never background).
BREAKAGES: dict[str, Callable[[dict[str, Any]], None]] = {
    "value_not_object": _set_result("value", "oops"),
    "annotations_not_list": lambda broken: broken.update(annotations="notalist"),
    "annotation_not_object": lambda broken: broken.update(annotations=["oops"]),
    "result_not_list": _set_annotation("result", {"x": 1}),
    "result_not_object": _set_annotation("result", [42]),
    "labels_not_list": _set_value("rectanglelabels", "a"),
    "x_as_text": _set_value("x", "10"),
    "x_nan": _set_value("x", float("nan")),
    "width_missing": _set_value("width", None),
    "original_width_zero": _set_result("original_width", 0),
    "original_size_missing": _drop_size,
    "original_height_negative": _set_result("original_height", -500),
    "original_width_text": _set_result("original_width", "wide"),
    "data_not_object": lambda broken: broken.update(data="/data/upload/1/t7.jpg"),
}


def broken_task(breakage: str, task_id: int = 7) -> dict[str, Any]:
    """A task with one box of class "a" that ``breakage`` (a key of BREAKAGES) makes unusable."""
    made = task(task_id, [annotation(task_id * 10, [rect(10, 10, 20, 20, "a", region="r7")])])
    BREAKAGES[breakage](made)
    return made


def roadmark(*args: object) -> subprocess.CompletedProcess[str]:
    """Run ``roadmark ARGS`` as a user does (a real process); capture stdout and stderr."""
    script = Path(sys.executable).with_name("roadmark")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "roadmark_pipeline.cli"]
    return subprocess.run([*command, *map(str, args)], capture_output=True, text=True, timeout=120)


def one_line_refusal(done: subprocess.CompletedProcess[str], *names: object) -> str:
    """Assert exit 2, no stdout, one ``roadmark <command>: ...`` line naming ``names``."""
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("roadmark "), lines[0]
    for name in names:
        assert str(name) in lines[0]
    return lines[0]


def summary_of(done: subprocess.CompletedProcess[str]) -> dict:
    """Assert exit 0 and return the one JSON line on stdout."""
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])
