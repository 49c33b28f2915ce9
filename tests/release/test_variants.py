"""FP16/INT8 variants: built, measured side by side with FP32, and accepted only when faster by
the margin AND within one mAP point; the decision carries the measured numbers."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest

from jetson_runtime.postprocess import Detections
from roadmark_pipeline.release.variants import (
    _decide,
    as_truth,
    choose_variants,
    map50_95,
)

from .tiny_model import build_tiny_detector


@pytest.fixture(scope="module")
def stills(data_dir: Path) -> list[np.ndarray]:
    return [cv2.imread(str(p)) for p in sorted((data_dir / "stills").glob("*.jpg"))]


def test_variants_are_measured_and_decided(tmp_path: Path, stills) -> None:
    model = build_tiny_detector(tmp_path / "fp32.onnx")
    decisions = choose_variants(
        model, tmp_path / "variants", frames=stills, input_size=160, num_classes=6
    )

    assert [d.name for d in decisions] == ["fp16", "int8"]
    for decision in decisions:
        onnx.checker.check_model(decision.path)
        assert decision.fp32_map50_95 == pytest.approx(1.0)  # agreement with itself
        assert decision.speedup == pytest.approx(decision.fp32_latency_ms / decision.latency_ms)
        faster = decision.speedup >= 1.05
        accurate = decision.fp32_map50_95 - decision.map50_95 <= 0.01
        assert decision.accepted == (faster and accurate)
        assert f"{decision.speedup:.2f}x" in decision.reason
    fp16 = onnx.load(decisions[0].path)
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in fp16.graph.initializer)
    assert any(n.op_type == "QuantizeLinear" for n in onnx.load(decisions[1].path).graph.node)
    saved = json.loads((tmp_path / "variants" / "variants.json").read_text())
    assert [d["accepted"] for d in saved] == [d.accepted for d in decisions]


@pytest.mark.parametrize(
    ("speedup", "scores", "verdict"),
    [
        (1.30, (0.60, 0.598), "accepted"),
        (0.55, (0.60, 0.60), "refused (not measured faster)"),  # INT8 without VNNI, say
        (1.02, (0.60, 0.60), "refused (not faster by enough)"),
        (1.50, (0.60, 0.57), "refused (less accurate)"),
        (0.90, (0.60, 0.55), "refused (not measured faster, less accurate)"),
        (2.26, (0.0, 0.0), "refused (accuracy not measurable"),  # an untrained model
        (2.26, (float("nan"), float("nan")), "refused (accuracy not measurable"),
    ],
)
def test_decision_rule(speedup: float, scores: tuple[float, float], verdict: str) -> None:
    reason = _decide("int8", speedup, scores, 1.05, 0.01)
    assert reason.startswith(verdict)
    assert f"{speedup:.2f}x" in reason


def _dets(boxes, classes, scores) -> Detections:
    return Detections(np.array(boxes, np.float32).reshape(-1, 4), np.array(scores, np.float32),
                      np.array(classes, np.int64))  # fmt: skip


def test_map_against_labels() -> None:
    truth = as_truth([_dets([[0, 0, 10, 10], [20, 20, 40, 40]], [0, 1], [1, 1])])
    perfect = [_dets([[0, 0, 10, 10], [20, 20, 40, 40]], [0, 1], [0.9, 0.8])]
    half = [_dets([[0, 0, 10, 10]], [0], [0.9])]  # class 1 missed
    shifted = [_dets([[0, 0, 10, 10], [22, 20, 42, 40]], [0, 1], [0.9, 0.8])]  # IoU 0.82
    assert map50_95(perfect, truth, 2) == pytest.approx(1.0)
    assert map50_95(half, truth, 2) == pytest.approx(0.5)
    assert map50_95(shifted, truth, 2) == pytest.approx((1.0 + 0.7) / 2)
