"""FP16 and INT8 variants of the exported model, kept only when measured faster and as accurate.

A variant is accepted when, side by side with the FP32 model in the same process and on the same
provider, its median latency is at least ``min_speedup`` times lower AND its mAP50-95 is within
``max_map_drop`` (1 point by default) of the FP32 model's. Otherwise it is refused, and the
decision says which measurement failed, with the numbers. A model whose own mAP is near zero
(an untrained one) cannot show a 1-point drop, so its variants are refused as not measurable.

Accuracy is measured against ground-truth boxes when they are given; without them, against the
FP32 model's own detections (an agreement mAP: FP32 scores 100 by definition).
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort

from jetson_runtime.postprocess import Detections, decode_yolo
from jetson_runtime.preprocess import letterbox, unletterbox_xyxy
from roadmark_pipeline import lake
from roadmark_pipeline.model.metrics import class_average_precision, match_detections

LOG = logging.getLogger(__name__)
MAP_CONF = 0.001
MIN_SPEEDUP = 1.05
MAX_MAP_DROP = 0.01
MIN_JUDGEABLE_MAP = 0.05  # below this, "within 1 point" says nothing about the variant


@dataclass(frozen=True)
class GroundTruth:
    """Labelled boxes of one frame, in frame pixels.

    Attributes:
        xyxy: (N, 4) boxes.
        class_ids: (N,) class ids.
    """

    xyxy: npt.NDArray[np.float64]
    class_ids: npt.NDArray[np.int64]


@dataclass(frozen=True)
class VariantDecision:
    """Whether a variant ships, and the measurements behind it.

    Attributes:
        name: ``fp16`` or ``int8``.
        path: The variant's ONNX file.
        accepted: True when faster and as accurate.
        reason: The decision in words, with the numbers.
        latency_ms: Median ``session.run`` time of the variant.
        fp32_latency_ms: Median time of the FP32 model, measured alongside.
        speedup: FP32 time divided by variant time.
        map50_95: The variant's mAP50-95 (0..1).
        fp32_map50_95: The FP32 model's.
        provider: ONNX Runtime provider used for both.
    """

    name: str
    path: str
    accepted: bool
    reason: str
    latency_ms: float
    fp32_latency_ms: float
    speedup: float
    map50_95: float
    fp32_map50_95: float
    provider: str


def build_fp16(fp32_path: Path, out_path: Path) -> Path:
    """Convert the model's weights and arithmetic to float16 (inputs and outputs stay float32)."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(fp32_path)), keep_io_types=True)
    sort_graph(model.graph)  # the converter appends its input casts after their users
    onnx.checker.check_model(model)
    lake.write_bytes_atomic(out_path, model.SerializeToString())
    return out_path


def sort_graph(graph: onnx.GraphProto) -> None:
    """Reorder a graph's nodes so that every node comes after the producers of its inputs."""
    available = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        ready = [n for n in pending if all(i in available for i in n.input)]
        if not ready:
            raise ValueError("the graph has a cycle or an input nobody produces")
        for node in ready:
            ordered.append(node)
            available.update(node.output)
        pending = [n for n in pending if n not in ready]
    del graph.node[:]
    graph.node.extend(ordered)


class _Calibration:
    """Feeds letterboxed frames to ONNX Runtime's static quantiser."""

    def __init__(self, input_name: str, tensors: list[npt.NDArray[np.float32]]) -> None:
        self._items = iter([{input_name: t} for t in tensors])

    def get_next(self) -> dict[str, npt.NDArray[np.float32]] | None:
        return next(self._items, None)


def build_int8(
    fp32_path: Path, out_path: Path, frames: Sequence[npt.NDArray[np.uint8]], input_size: int
) -> Path:
    """Quantise the model statically to INT8 (QDQ), calibrated on letterboxed real frames."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    input_name = ort.InferenceSession(str(fp32_path)).get_inputs()[0].name
    tensors = [letterbox(f, input_size)[0] for f in frames]
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    quantize_static(
        str(fp32_path),
        str(tmp),
        _Calibration(input_name, tensors),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )
    tmp.replace(out_path)
    return out_path


def _session(path: Path, threads: int, provider: str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=[provider])


def measure_latency(
    sessions: dict[str, ort.InferenceSession], tensor: npt.NDArray[np.float32], rounds: int = 5,
    runs: int = 10,
) -> dict[str, float]:  # fmt: skip
    """Median ``session.run`` milliseconds per model, the models interleaved round by round."""
    samples: dict[str, list[float]] = {name: [] for name in sessions}
    for session in sessions.values():  # warm-up
        session.run(None, {session.get_inputs()[0].name: tensor})
    for _ in range(rounds):
        for name, session in sessions.items():
            feed = {session.get_inputs()[0].name: tensor}
            for _ in range(runs):
                start = time.perf_counter()
                session.run(None, feed)
                samples[name].append((time.perf_counter() - start) * 1000.0)
    return {name: statistics.median(values) for name, values in samples.items()}


def detect(
    session: ort.InferenceSession, frames: Sequence[npt.NDArray[np.uint8]], input_size: int
) -> list[Detections]:
    """Detections at the mAP operating point (low threshold) on each frame, in frame pixels."""
    found = []
    name = session.get_inputs()[0].name
    for frame in frames:
        tensor, lb = letterbox(frame, input_size)
        result = decode_yolo(session.run(None, {name: tensor})[0], MAP_CONF)
        result.xyxy = unletterbox_xyxy(result.xyxy, lb)
        found.append(result.with_area())
    return found


def map50_95(found: Sequence[Detections], truth: Sequence[GroundTruth], num_classes: int) -> float:
    """Mean over classes with ground truth of AP averaged over IoU 0.50:0.95 (0..1)."""
    per_class = []
    for class_id in range(num_classes):
        hits, scores, n_gt = [], [], 0
        for det, gt in zip(found, truth, strict=True):
            gt_boxes = gt.xyxy[gt.class_ids == class_id]
            keep = det.class_ids == class_id
            n_gt += len(gt_boxes)
            hits.append(match_detections(gt_boxes, det.xyxy[keep], det.scores[keep]))
            scores.append(det.scores[keep])
        if n_gt:
            ap = class_average_precision(np.concatenate(hits), np.concatenate(scores), n_gt)
            per_class.append(float(np.mean(ap)))
    return float(np.mean(per_class)) if per_class else float("nan")


def as_truth(found: Sequence[Detections]) -> list[GroundTruth]:
    """Use detections as ground truth (the agreement reference when no labels are given)."""
    return [GroundTruth(d.xyxy.astype(np.float64), d.class_ids) for d in found]


def _decide(
    name: str, speedup: float, scores: tuple[float, float], min_speedup: float, max_drop: float
) -> str:
    """Return the decision in words; ``scores`` is (FP32 mAP, variant mAP)."""
    reference, score = scores
    drop = reference - score
    words = (
        f"{name}: {speedup:.2f}x the FP32 speed (needs >= {min_speedup:.2f}x), "
        f"mAP50-95 {'drop' if drop >= 0 else 'gain'} {abs(drop) * 100:.2f} points "
        f"(limit {max_drop * 100:.1f})"
    )
    why = []
    if speedup < min_speedup:
        why.append("not measured faster" if speedup < 1.0 else "not faster by enough")
    if not reference >= MIN_JUDGEABLE_MAP:  # NaN too: no class with ground truth
        why.append(f"accuracy not measurable (FP32 mAP50-95 {reference * 100:.2f})")
    elif drop > max_drop:
        why.append("less accurate")
    return f"refused ({', '.join(why)}): {words}" if why else f"accepted: {words}"


def choose_variants(
    fp32_path: Path,
    out_dir: Path,
    *,
    frames: Sequence[npt.NDArray[np.uint8]],
    input_size: int,
    num_classes: int,
    truth: Sequence[GroundTruth] | None = None,
    variants: Sequence[str] = ("fp16", "int8"),
    provider: str = "CPUExecutionProvider",
    threads: int = 2,
    min_speedup: float = MIN_SPEEDUP,
    max_map_drop: float = MAX_MAP_DROP,
) -> list[VariantDecision]:
    """Build each variant, measure it against FP32 side by side, and accept or refuse it.

    Args:
        fp32_path: The exported FP32 model.
        out_dir: Where variants and ``variants.json`` (the decisions) are written.
        frames: Real frames (BGR): calibration for INT8, the accuracy set, a latency input.
        input_size: The model's square input size.
        num_classes: Classes in the model output.
        truth: Labelled boxes per frame; the FP32 model's detections when None.
        variants: Which variants to try.
        provider: ONNX Runtime provider to measure on (the device's, when run there).
        threads: Intra-op threads of both sessions.
        min_speedup: Least FP32/variant latency ratio that counts as faster.
        max_map_drop: Largest mAP50-95 drop (0..1) still accepted.

    Returns:
        One decision per variant.
    """
    builders = {
        "fp16": lambda p: build_fp16(fp32_path, p),
        "int8": lambda p: build_int8(fp32_path, p, frames, input_size),
    }
    paths = {name: builders[name](Path(out_dir) / f"model.{name}.onnx") for name in variants}
    sessions = {"fp32": _session(fp32_path, threads, provider)}
    sessions |= {name: _session(path, threads, provider) for name, path in paths.items()}
    latency = measure_latency(sessions, letterbox(frames[0], input_size)[0])

    found = {name: detect(s, frames, input_size) for name, s in sessions.items()}
    reference = list(truth) if truth is not None else as_truth(found["fp32"])
    scores = {name: map50_95(f, reference, num_classes) for name, f in found.items()}

    decisions = []
    for name, path in paths.items():
        speedup = latency["fp32"] / latency[name]
        reason = _decide(name, speedup, (scores["fp32"], scores[name]), min_speedup, max_map_drop)
        accepted = reason.startswith("accepted")
        decisions.append(
            VariantDecision(
                name,
                str(path),
                accepted,
                reason,
                latency[name],
                latency["fp32"],
                speedup,
                scores[name],
                scores["fp32"],
                provider,
            )  # fmt: skip
        )
        LOG.info("variant %s", reason)
    lake.write_json_atomic(Path(out_dir) / "variants.json", [asdict(d) for d in decisions])
    return decisions
