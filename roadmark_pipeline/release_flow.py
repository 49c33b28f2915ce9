"""From an evaluated ONNX model to a published OTA release: thresholds, bundle, TUF, channel.

Publishing is idempotent: the same model, thresholds and runtime code make the same release,
published once; asking again for another channel only adds that channel.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import pandas as pd

import jetson_runtime
from jetson_runtime.bundle import RuntimeConfig, load_bundle
from jetson_runtime.detector import Detector
from roadmark_pipeline import lake
from roadmark_pipeline.ids import sha256_file
from roadmark_pipeline.release.bundle import build_release
from roadmark_pipeline.release.tuf_repo import TufRepository
from roadmark_pipeline.release.wheel import build_runtime_wheel
from roadmark_pipeline.taxonomy import class_names

LOG = logging.getLogger(__name__)

NMS_IOU = 0.45


@dataclass(frozen=True)
class ReleaseRequest:
    """What to release.

    Attributes:
        onnx_path: The exported model.
        imgsz: Its fixed input size.
        thresholds: One class-score threshold per taxonomy class (tuned by the evaluation).
        probe_images: Frames the device runs as its health check.
        lineage: Dataset version, model id, run id and the like.
        channel: The TUF channel to publish to.
    """

    onnx_path: str
    imgsz: int
    thresholds: Sequence[float]
    probe_images: Sequence[str]
    lineage: dict[str, str] = field(default_factory=dict)
    channel: str = "stable"


def runtime_source_hash() -> str:
    """Hash the edge runtime's source files: the runtime half of a release's identity."""
    digest = hashlib.sha256()
    package = Path(jetson_runtime.__file__).parent
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def publish_release(request: ReleaseRequest, releases_root: Path, tuf_root: Path) -> dict:
    """Build the bundle for ``request`` (unless it exists) and publish it to its channel.

    Args:
        request: The model and settings to release.
        releases_root: Where release folders live (``<lake>/releases``).
        tuf_root: Where the TUF repository and its keys live (``<lake>/tuf``).

    Returns:
        The release record: version, folder, channels, TUF repository, trusted root, and
        ``new`` (False when the same content was already released).
    """
    thresholds = tuple(float(value) for value in request.thresholds)
    if len(thresholds) != len(class_names()):
        raise ValueError(
            f"{len(thresholds)} thresholds for {len(class_names())} classes; pass one per class "
            "in taxonomy order"
        )
    identity = {
        "onnx": sha256_file(request.onnx_path),
        "thresholds": thresholds,
        "imgsz": request.imgsz,
        "runtime": runtime_source_hash(),
    }
    content_key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    index_path = releases_root / "index" / f"{content_key}.json"
    repository = TufRepository(tuf_root / "repository", tuf_root / "keys")
    repository.initialise()

    if index_path.exists():
        record = json.loads(index_path.read_text()) | {"new": False}
    else:
        record = _build(request, releases_root, content_key, thresholds) | {"new": True}

    if request.channel not in record["channels"]:
        repository.publish(Path(record["release_dir"]), request.channel)
        record["channels"] = [*record["channels"], request.channel]
    record |= {
        "channel": request.channel,
        "tuf_repo": str(repository.repo_dir),
        "trusted_root": str(repository.trusted_root_path),
    }
    lake.write_json_atomic(index_path, {k: v for k, v in record.items() if k != "new"})
    return record


def _build(
    request: ReleaseRequest, releases_root: Path, content_key: str, thresholds: tuple[float, ...]
) -> dict:
    version = dt.datetime.now(dt.UTC).strftime("%Y.%m%d.%H%M%S")
    config = RuntimeConfig(
        model_version=version,
        input_size=request.imgsz,
        class_names=class_names(),
        thresholds=thresholds,
        iou=NMS_IOU,
    )
    wheel = build_runtime_wheel(releases_root / "wheels")
    release_dir = build_release(
        releases_root / version,
        onnx_path=Path(request.onnx_path),
        runtime_config=config,
        probe_images=[Path(p) for p in request.probe_images],
        wheel_path=wheel,
        version=version,
        lineage=dict(request.lineage) | {"content_key": content_key},
    )
    LOG.info("built release %s (%s)", version, content_key)
    return {
        "version": version,
        "content_key": content_key,
        "release_dir": str(release_dir),
        "thresholds": dict(zip(class_names(), thresholds, strict=True)),
        "channels": [],
    }


def release_predictions(release_dir: Path, frames: pd.DataFrame, cache_root: Path) -> pd.DataFrame:
    """Run a release exactly as a device would (its ONNX model, thresholds and NMS) on frames.

    The drift reference's outputs come from here, so a device running the same release on the
    same road shows no output drift.

    Args:
        release_dir: A built release folder (verified on load).
        frames: ``frame_id`` and ``path`` of the frames to run.
        cache_root: Where the runtime may keep provider caches.

    Returns:
        A boxes table (``frame_id, class_id, class_name, x1, y1, x2, y2, score``).
    """
    bundle = load_bundle(release_dir)
    detector = Detector.open(bundle, cache_root)
    names = bundle.config.class_names
    rows: list[dict[str, Any]] = []
    for frame in frames.itertuples(index=False):
        image = cv2.imread(str(frame.path), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f"{frame.path}: frame image missing; re-run sampled_frames")
        found, _ = detector(image)
        for xyxy, score, class_id in zip(found.xyxy, found.scores, found.class_ids, strict=True):
            rows.append(
                {
                    "frame_id": frame.frame_id,
                    "class_id": int(class_id),
                    "class_name": names[int(class_id)],
                    "x1": float(xyxy[0]),
                    "y1": float(xyxy[1]),
                    "x2": float(xyxy[2]),
                    "y2": float(xyxy[3]),
                    "score": float(score),
                }
            )
    LOG.info(
        "release %s: %d detections on %d frames",
        bundle.config.model_version,
        len(rows),
        len(frames),
    )
    columns = ["frame_id", "class_id", "class_name", "x1", "y1", "x2", "y2", "score"]
    return pd.DataFrame(rows, columns=columns)
