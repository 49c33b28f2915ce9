"""The shipped silver-labelled real frames as frames and boxes tables.

``data/labels/annotations.labelstudio.json`` labels every 4th frame of the four real clips plus
six stills. This module decodes exactly those frames with OpenCV and returns the two tables the
model room works on, so training, evaluation and their tests can run on real footage without the
ingestion and labeling assets. The pipeline itself gets the same tables from those assets.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pandas as pd

from jetson_runtime.quality import frame_quality
from roadmark_pipeline.ids import frame_id, source_key
from roadmark_pipeline.lake import write_bytes_atomic
from roadmark_pipeline.taxonomy import class_id, class_names

LOG = logging.getLogger(__name__)

FRAME_COLUMNS = (
    "frame_id",
    "source_sha256",
    "path",
    "width",
    "height",
    "clip",
    "camera_model",
    "brightness",
)
BOX_COLUMNS = ("frame_id", "class_id", "class_name", "x1", "y1", "x2", "y2")
STILL_CLIP = "still"


class SilverDataError(ValueError):
    """The silver label export or the media it points to cannot be read."""


def _task_boxes(task: dict[str, Any], fid: str, names: tuple[str, ...]) -> list[dict[str, Any]]:
    """Turn one Label Studio task's rectangles (percent of the image) into pixel boxes."""
    rows = []
    for annotation in task.get("annotations", []):
        for result in annotation.get("result", []):
            value = result["value"]
            width, height = result["original_width"], result["original_height"]
            x1 = value["x"] / 100.0 * width
            y1 = value["y"] / 100.0 * height
            x2 = x1 + value["width"] / 100.0 * width
            y2 = y1 + value["height"] / 100.0 * height
            name = value["rectanglelabels"][0]
            rows.append(
                {
                    "frame_id": fid,
                    "class_id": class_id(name, names),
                    "class_name": name,
                    "x1": min(x1, x2),
                    "y1": min(y1, y2),
                    "x2": max(x1, x2),
                    "y2": max(y1, y2),
                }
            )
    return rows


def _camera_model(source_file: str) -> str:
    """Name the camera by the repository the footage came from (one dashcam per repository)."""
    return source_file.split("/", 1)[0].removeprefix("udacity_")


def _decode_frames(video: Path, wanted: set[int]) -> dict[int, npt.NDArray[np.uint8]]:
    """Decode ``video`` in order and keep the frames whose index is in ``wanted``."""
    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        raise SilverDataError(f"{video}: OpenCV cannot open it; pass an H.264 .mp4 clip")
    frames: dict[int, npt.NDArray[np.uint8]] = {}
    index = 0
    last = max(wanted)
    try:
        while index <= last and capture.grab():
            if index in wanted:
                ok, image = capture.retrieve()
                if ok:
                    frames[index] = image
            index += 1
    finally:
        capture.release()
    return frames


def _video_tasks(tasks: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Group the tasks of video frames by clip name."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for task in tasks:
        if task["meta"]["source_clip"] != STILL_CLIP:
            grouped.setdefault(task["meta"]["source_clip"], []).append(task)
    return grouped


def _frame_row(task: dict[str, Any], fid: str, path: Path, image: npt.NDArray[np.uint8]) -> dict:
    meta = task["meta"]
    return {
        "frame_id": fid,
        "source_sha256": meta["source_sha256"],
        "path": str(path),
        "width": int(image.shape[1]),
        "height": int(image.shape[0]),
        "clip": meta["source_clip"],
        "camera_model": _camera_model(meta["source_file"]),
        "brightness": frame_quality(image)["brightness"],
    }


def _store(image: npt.NDArray[np.uint8], path: Path) -> None:
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    if not ok:
        raise SilverDataError(f"{path}: OpenCV could not encode the frame as JPEG")
    write_bytes_atomic(path, encoded.tobytes())


def _clip_rows(
    clip_tasks: list[dict[str, Any]], video: Path, out_dir: Path, names: tuple[str, ...]
) -> tuple[list[dict], list[dict]]:
    """Decode one clip's labelled frames, store them as JPEG and return their table rows."""
    by_index = {int(task["meta"]["frame_index"]): task for task in clip_tasks}
    decoded = _decode_frames(video, set(by_index))
    missing = sorted(set(by_index) - set(decoded))
    if missing:
        LOG.warning(
            "%s: %d labelled frames do not decode, skipped: %s", video, len(missing), missing
        )

    frames, boxes = [], []
    for index, image in sorted(decoded.items()):
        task = by_index[index]
        fid = frame_id(task["meta"]["source_sha256"], index)
        path = out_dir / "frames" / source_key(task["meta"]["source_sha256"]) / f"{index:06d}.jpg"
        if not path.is_file():
            _store(image, path)
        frames.append(_frame_row(task, fid, path, image))
        boxes.extend(_task_boxes(task, fid, names))
    return frames, boxes


def _still_rows(
    tasks: list[dict[str, Any]], stills_dir: Path, names: tuple[str, ...]
) -> tuple[list[dict], list[dict]]:
    """Read the labelled stills in place (a still is a one-frame source, frame index 0)."""
    frames, boxes = [], []
    for task in tasks:
        path = stills_dir / Path(task["data"]["image"]).name
        image = cv2.imread(str(path))
        if image is None:
            raise SilverDataError(f"{path}: still image missing or unreadable; restore data/stills")
        fid = frame_id(task["meta"]["source_sha256"], 0)
        frames.append(_frame_row(task, fid, path, image))
        boxes.extend(_task_boxes(task, fid, names))
    return frames, boxes


def load_silver(
    data_dir: Path,
    out_dir: Path,
    *,
    clips: Iterable[str] | None = None,
    frame_step: int = 1,
    include_stills: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Decode the silver-labelled real frames and return the frames and boxes tables.

    Args:
        data_dir: The repository's ``data/`` folder (``videos/``, ``stills/``, ``labels/``).
        out_dir: Where decoded frames are written (``frames/<source key>/<index>.jpg``); frames
            already there are reused.
        clips: Clip names to keep (e.g. ``["test_video"]``); all four when omitted.
        frame_step: Keep every n-th labelled frame of a clip (1 keeps all of them).
        include_stills: Add the six labelled stills (clip ``"still"``).

    Returns:
        ``(frames, boxes)``: frames with ``frame_id, source_sha256, path, width, height, clip,
        camera_model, brightness``; boxes with ``frame_id, class_id, class_name, x1..y2`` in pixels.

    Raises:
        SilverDataError: When the export, a clip or a still is missing or unreadable.
    """
    export = data_dir / "labels" / "annotations.labelstudio.json"
    if not export.is_file():
        raise SilverDataError(f"{export}: label export missing; pass the repository's data/ folder")
    tasks = json.loads(export.read_text("utf-8"))
    names = class_names()
    wanted = set(clips) if clips is not None else None

    frames: list[dict] = []
    boxes: list[dict] = []
    for clip, clip_tasks in sorted(_video_tasks(tasks).items()):
        if wanted is not None and clip not in wanted:
            continue
        clip_tasks = sorted(clip_tasks, key=lambda task: int(task["meta"]["frame_index"]))
        video = data_dir / "videos" / f"{clip}.mp4"
        if not video.is_file():
            raise SilverDataError(f"{video}: clip missing; restore data/videos from the repository")
        clip_frames, clip_boxes = _clip_rows(clip_tasks[::frame_step], video, out_dir, names)
        frames += clip_frames
        boxes += clip_boxes

    if include_stills and (wanted is None or STILL_CLIP in wanted):
        stills = [task for task in tasks if task["meta"]["source_clip"] == STILL_CLIP]
        still_frames, still_boxes = _still_rows(stills, data_dir / "stills", names)
        frames += still_frames
        boxes += still_boxes

    LOG.info("silver data: %d frames, %d boxes", len(frames), len(boxes))
    return (
        pd.DataFrame(frames, columns=list(FRAME_COLUMNS)),
        pd.DataFrame(boxes, columns=list(BOX_COLUMNS)),
    )
