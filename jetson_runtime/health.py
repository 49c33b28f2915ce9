"""The health check: the bundle's probe frames must give the detections the pipeline recorded.

Run before a release becomes current. Detections near a threshold may differ between providers
(FP16 on TensorRT shifts scores slightly), so only detections clearly above their class's
threshold must match: same class, IoU at least ``iou``, score within ``score``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from jetson_runtime.bundle import PROBE_DIR, Bundle, BundleError
from jetson_runtime.detector import Detector, detections_to_json

LOG = logging.getLogger(__name__)
DEFAULT_TOLERANCE = {"iou": 0.8, "score": 0.1}


@dataclass
class HealthResult:
    """What the health check found.

    Attributes:
        ok: True when every probe frame matched.
        frames: Probe frames checked.
        detections: Detections expected over all frames.
        problems: One line per mismatch.
    """

    ok: bool
    frames: int
    detections: int
    problems: list[str] = field(default_factory=list)


def _iou(a: list[float], b: list[float]) -> float:
    inter_w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    inter_h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = inter_w * inter_h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _unmatched(
    wanted: list[dict[str, Any]], found: list[dict[str, Any]], tol: dict[str, float]
) -> list[dict[str, Any]]:
    """Return the detections of ``wanted`` that no detection of ``found`` matches."""
    missing = []
    for want in wanted:
        if not any(
            got["class_id"] == want["class_id"]
            and _iou(got["xyxy"], want["xyxy"]) >= tol["iou"]
            and abs(got["score"] - want["score"]) <= tol["score"]
            for got in found
        ):
            missing.append(want)
    return missing


def compare_frame(
    name: str,
    expected: list[dict[str, Any]],
    found: list[dict[str, Any]],
    thresholds: tuple[float, ...],
    tol: dict[str, float],
) -> list[str]:
    """Return the mismatches of one probe frame (empty when it matches)."""

    def clear(det: dict[str, Any]) -> bool:
        return det["score"] >= thresholds[det["class_id"]] + tol["score"]

    problems = []
    for det in _unmatched([d for d in expected if clear(d)], found, tol):
        problems.append(f"{name}: expected {det['class_name']} {det['score']:.2f} not found")
    for det in _unmatched([d for d in found if clear(d)], expected, tol):
        problems.append(f"{name}: unexpected {det['class_name']} {det['score']:.2f}")
    return problems


def check_health(bundle: Bundle, detector: Detector) -> HealthResult:
    """Run the probe frames and compare with ``probe/expected.json``.

    Raises:
        BundleError: When the probe description or a probe frame is unreadable.
    """
    spec = json.loads(bundle.probe_expected_path.read_text("utf-8"))
    tol = {**DEFAULT_TOLERANCE, **spec.get("tolerance", {})}
    problems: list[str] = []
    total = 0
    for entry in spec["frames"]:
        path: Path = bundle.path / PROBE_DIR / entry["file"]
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None or not isinstance(bgr, np.ndarray):
            raise BundleError(f"{path}: probe frame unreadable")
        found, _ = detector(bgr)
        got = detections_to_json(found, bundle.config.class_names)
        total += len(entry["detections"])
        problems += compare_frame(
            entry["file"], entry["detections"], got, bundle.config.thresholds, tol
        )
    result = HealthResult(not problems, len(spec["frames"]), total, problems)
    LOG.info(
        "health check of %s: %s (%d frames, %d expected detections, %d problems)",
        bundle.version,
        "passed" if result.ok else "FAILED",
        result.frames,
        result.detections,
        len(problems),
    )
    return result
