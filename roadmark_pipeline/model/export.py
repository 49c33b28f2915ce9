"""ONNX export of the detector and the parity check that gates it.

The parity check feeds the *same* letterboxed tensors (made by the edge runtime's own
``letterbox``) through the PyTorch model and an ONNX Runtime CPU session, compares the raw
outputs, then decodes both with the edge runtime's ``decode_yolo`` and compares detections. It
therefore tests what the device will run, not a second implementation of it.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from jetson_runtime.postprocess import Detections, decode_yolo
from jetson_runtime.preprocess import letterbox
from roadmark_pipeline.lake import copy_file_atomic
from roadmark_pipeline.model.metrics import (
    average_precision,
    box_iou,
    match_detections,
    precision_recall,
)

LOG = logging.getLogger(__name__)

MATCH_IOU = 0.9


class ExportError(RuntimeError):
    """The model cannot be exported or checked."""


@dataclass(frozen=True)
class ParityTolerance:
    """Limits the ONNX export must stay within against the PyTorch model.

    Attributes:
        max_score_abs_diff: Largest raw class-score difference (scores are 0..1). Float32
            kernels differ in summation order; 1e-3 is far above that noise and far below any
            change of decision.
        max_box_abs_diff: Largest raw box difference in input pixels (0..imgsz).
        min_matched_share: Share of PyTorch detections an ONNX detection of the same class
            overlaps with IoU >= 0.9.
        max_detection_score_diff: Largest score difference between matched detections.
        max_ap_delta: Largest per-class AP50 loss of the ONNX detections, scored against the
            PyTorch detections as reference.
    """

    max_score_abs_diff: float = 1e-3
    max_box_abs_diff: float = 0.05
    min_matched_share: float = 0.99
    max_detection_score_diff: float = 1e-3
    max_ap_delta: float = 0.01


@dataclass
class ParityReport:
    """What :func:`onnx_parity` measured.

    Attributes:
        n_images: Images compared.
        max_abs_diff: Largest raw-output difference (any channel).
        mean_abs_diff: Mean raw-output difference.
        max_box_abs_diff: Largest difference on the box channels (input pixels).
        max_score_abs_diff: Largest difference on the class-score channels.
        n_torch_detections: PyTorch detections after decode at ``conf``.
        n_onnx_detections: ONNX detections after decode at ``conf``.
        matched_share: Share of PyTorch detections matched (IoU >= 0.9, same class).
        max_detection_score_diff: Largest score difference between matched detections.
        ap_delta: class -> 1 - AP50 of ONNX detections against the PyTorch ones.
        tolerance: The limits applied.
        failures: Which limits were exceeded (empty when passed).
    """

    n_images: int
    max_abs_diff: float
    mean_abs_diff: float
    max_box_abs_diff: float
    max_score_abs_diff: float
    n_torch_detections: int
    n_onnx_detections: int
    matched_share: float
    max_detection_score_diff: float
    ap_delta: dict[str, float]
    tolerance: ParityTolerance = field(default_factory=ParityTolerance)
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when every measure is within its tolerance."""
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        """Return the report as plain values (for metadata and release files)."""
        values = asdict(self)
        values["passed"] = self.passed
        return values


def export_onnx(weights: Path, out_path: Path, *, imgsz: int = 640, opset: int = 18) -> Path:
    """Export a detector to ONNX with a fixed input size and copy it atomically to ``out_path``.

    ultralytics writes ``<weights stem>.onnx`` beside the weights it loaded, so the export runs
    on a copy of the weights in a scratch folder next to ``out_path`` (removed afterwards):
    nothing is written beside the weights, and a failed export leaves nothing behind. Class
    names, image size and stride travel in the ONNX metadata.

    Args:
        weights: The ``.pt`` file.
        out_path: Where the ``.onnx`` file goes.
        imgsz: Fixed square input size.
        opset: ONNX opset.

    Returns:
        ``out_path``.

    Raises:
        ExportError: When the weights are missing or the export produced no file.
    """
    from roadmark_pipeline.model.predict import load_model

    weights = Path(weights)
    if not weights.is_file():
        raise ExportError(f"{weights}: weights file missing; pass a best.pt from training")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".roadmark-export-", dir=out_path.parent) as scratch:
        copy = Path(scratch) / weights.name
        shutil.copyfile(weights, copy)
        produced = load_model(copy).export(
            format="onnx", imgsz=imgsz, opset=opset, simplify=True, dynamic=False, device="cpu"
        )
        if not produced or not Path(produced).is_file():
            raise ExportError(f"{weights}: ultralytics export wrote no ONNX file")
        copy_file_atomic(Path(produced), out_path)
    LOG.info("exported %s -> %s (imgsz %d, opset %d)", weights, out_path, imgsz, opset)
    return out_path


def onnx_metadata(onnx_path: Path) -> dict[str, str]:
    """Return the custom metadata stored in an ONNX file (names, imgsz, stride, ...)."""
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    return {entry.key: entry.value for entry in model.metadata_props}


def _torch_module(weights: Path) -> Any:
    """The PyTorch detection model in float32 eval mode, as inference runs it."""
    from roadmark_pipeline.model.predict import load_model

    module = load_model(weights).model.float().eval()
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    return module


def _torch_output(module: Any, tensor: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    import torch

    with torch.inference_mode():
        output = module(torch.from_numpy(tensor))
    raw = output[0] if isinstance(output, list | tuple) else output
    return raw.cpu().numpy().astype(np.float32)


def _onnx_session(onnx_path: Path) -> Any:
    import onnxruntime

    if not Path(onnx_path).is_file():
        raise ExportError(f"{onnx_path}: ONNX file missing; run export_onnx first")
    return onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])


def _read_tensor(path: Path, imgsz: int) -> npt.NDArray[np.float32]:
    image = cv2.imread(str(path))
    if image is None:
        raise ExportError(f"{path}: image missing or unreadable; pass JPEG/PNG frames")
    tensor, _ = letterbox(image, imgsz)
    return tensor


def match_detection_sets(reference: Detections, other: Detections) -> tuple[int, float]:
    """Match ``other`` to ``reference`` (same class, IoU >= 0.9, one-to-one, by score).

    Returns:
        ``(matched, max_score_diff)``: reference detections matched and the largest score
        difference among the matched pairs (0 when none).
    """
    matched, worst = 0, 0.0
    for class_id in np.unique(reference.class_ids):
        ref = reference.class_ids == class_id
        oth = other.class_ids == class_id
        if not oth.any():
            continue
        iou = box_iou(reference.xyxy[ref], other.xyxy[oth])
        ref_scores, oth_scores = reference.scores[ref], other.scores[oth]
        taken = np.zeros(iou.shape[1], dtype=bool)
        for index in np.argsort(-ref_scores, kind="stable"):
            candidates = np.where(taken, -1.0, iou[index])
            best = int(np.argmax(candidates))
            if candidates[best] >= MATCH_IOU:
                taken[best] = True
                matched += 1
                worst = max(worst, abs(float(ref_scores[index]) - float(oth_scores[best])))
    return matched, worst


def agreement_ap_delta(
    reference: Sequence[Detections], other: Sequence[Detections], class_names: Sequence[str]
) -> dict[str, float]:
    """Per class, ``1 - AP50`` of ``other`` scored against ``reference`` as ground truth.

    Classes the reference never detects are left out.
    """
    deltas = {}
    for class_id, name in enumerate(class_names):
        hits, scores, n_ref = [], [], 0
        for ref, oth in zip(reference, other, strict=True):
            ref_boxes = ref.xyxy[ref.class_ids == class_id]
            keep = oth.class_ids == class_id
            n_ref += len(ref_boxes)
            hits.append(match_detections(ref_boxes, oth.xyxy[keep], oth.scores[keep], [0.5]))
            scores.append(oth.scores[keep])
        if n_ref == 0:
            continue
        recall, precision, _ = precision_recall(
            np.concatenate(hits)[:, 0], np.concatenate(scores), n_ref
        )
        deltas[name] = round(1.0 - average_precision(recall, precision), 6)
    return deltas


def _failures(report: ParityReport, tolerance: ParityTolerance) -> list[str]:
    """Name every measure beyond its limit."""
    checks = [
        ("raw score diff", report.max_score_abs_diff, tolerance.max_score_abs_diff, "<="),
        ("raw box diff (px)", report.max_box_abs_diff, tolerance.max_box_abs_diff, "<="),
        ("matched share", report.matched_share, tolerance.min_matched_share, ">="),
        (
            "detection score diff",
            report.max_detection_score_diff,
            tolerance.max_detection_score_diff,
            "<=",
        ),
    ]
    checks += [
        (f"AP delta {name}", delta, tolerance.max_ap_delta, "<=")
        for name, delta in report.ap_delta.items()
    ]
    failures = []
    for name, value, limit, sense in checks:
        within = value <= limit if sense == "<=" else value >= limit
        if not within:
            failures.append(f"{name} {value:.6g} not {sense} {limit:g}")
    return failures


def onnx_parity(
    weights: Path,
    onnx_path: Path,
    image_paths: Sequence[Path],
    *,
    imgsz: int,
    conf: float = 0.25,
    iou: float = 0.45,
    tolerance: ParityTolerance | None = None,
) -> ParityReport:
    """Compare the ONNX export with the PyTorch model on the same letterboxed frames.

    Args:
        weights: The ``.pt`` file the export came from.
        onnx_path: The exported model.
        image_paths: Real frames to feed both (a handful is enough).
        imgsz: The export's input size.
        conf: Score threshold of the decode (the device's operating point).
        iou: NMS IoU threshold of the decode.
        tolerance: Limits; :class:`ParityTolerance` defaults when omitted.

    Returns:
        Raw-output differences, detection agreement, per-class AP deltas, and ``passed``.

    Raises:
        ExportError: When a file is missing or no image is given.
    """
    tolerance = tolerance or ParityTolerance()
    if not image_paths:
        raise ExportError("no images for the parity check; pass a few real frames")
    module = _torch_module(weights)
    session = _onnx_session(onnx_path)
    input_name = session.get_inputs()[0].name
    class_names = [module.names[index] for index in sorted(module.names)]

    diffs, box_diffs, score_diffs = [], [], []
    torch_dets, onnx_dets = [], []
    for path in image_paths:
        tensor = _read_tensor(Path(path), imgsz)
        reference = _torch_output(module, tensor)
        exported = np.asarray(session.run(None, {input_name: tensor})[0], dtype=np.float32)
        if exported.shape != reference.shape:
            raise ExportError(
                f"{onnx_path}: output shape {exported.shape} differs from PyTorch's "
                f"{reference.shape}; re-export at imgsz={imgsz}"
            )
        difference = np.abs(exported - reference)
        diffs.append(difference)
        box_diffs.append(float(difference[:, :4].max()))
        score_diffs.append(float(difference[:, 4:].max()))
        torch_dets.append(decode_yolo(reference, conf, iou, num_classes=len(class_names)))
        onnx_dets.append(decode_yolo(exported, conf, iou, num_classes=len(class_names)))

    report = _report(diffs, box_diffs, score_diffs, torch_dets, onnx_dets, class_names)
    report.tolerance = tolerance
    report.failures = _failures(report, tolerance)
    LOG.info(
        "ONNX parity on %d images: %s (max raw diff %.2e, matched %.3f)",
        len(image_paths),
        "passed" if report.passed else f"FAILED {report.failures}",
        report.max_abs_diff,
        report.matched_share,
    )
    return report


def _report(
    diffs: list[npt.NDArray[np.float32]],
    box_diffs: list[float],
    score_diffs: list[float],
    torch_dets: list[Detections],
    onnx_dets: list[Detections],
    class_names: Sequence[str],
) -> ParityReport:
    """Aggregate the per-image comparisons."""
    matched, worst_score = 0, 0.0
    for reference, other in zip(torch_dets, onnx_dets, strict=True):
        hits, score_diff = match_detection_sets(reference, other)
        matched += hits
        worst_score = max(worst_score, score_diff)
    n_torch = sum(len(det) for det in torch_dets)
    return ParityReport(
        n_images=len(diffs),
        max_abs_diff=float(max(float(d.max()) for d in diffs)),
        mean_abs_diff=float(np.mean([float(d.mean()) for d in diffs])),
        max_box_abs_diff=max(box_diffs),
        max_score_abs_diff=max(score_diffs),
        n_torch_detections=n_torch,
        n_onnx_detections=sum(len(det) for det in onnx_dets),
        matched_share=matched / n_torch if n_torch else 1.0,
        max_detection_score_diff=worst_score,
        ap_delta=agreement_ap_delta(torch_dets, onnx_dets, class_names),
    )
