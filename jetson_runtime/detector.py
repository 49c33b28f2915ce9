"""The per-frame detector: letterbox, ONNX Runtime, YOLO decode, boxes back in frame pixels.

The device's run loop, the health check and the pipeline's probe expectations all go through
this one class, so a release's expected detections are computed by the code that checks them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from jetson_runtime.bundle import Bundle
from jetson_runtime.postprocess import Detections, decode_yolo
from jetson_runtime.preprocess import Letterbox, letterbox, unletterbox_xyxy
from jetson_runtime.session import ModelSession, open_session


@dataclass(frozen=True)
class Timing:
    """Milliseconds spent in each step of one frame.

    Attributes:
        preprocess_ms: Letterbox and tensor conversion.
        inference_ms: ``session.run``.
        postprocess_ms: Decode, NMS and mapping back to the frame.
    """

    preprocess_ms: float
    inference_ms: float
    postprocess_ms: float

    @property
    def latency_ms(self) -> float:
        """The three steps together."""
        return self.preprocess_ms + self.inference_ms + self.postprocess_ms


@dataclass(frozen=True)
class Prepared:
    """A frame letterboxed into the model input.

    Attributes:
        tensor: The (1, 3, S, S) input.
        letterbox: How the frame was fitted (to map boxes back).
        preprocess_ms: Time the letterbox took.
    """

    tensor: npt.NDArray[np.float32]
    letterbox: Letterbox
    preprocess_ms: float


class Detector:
    """Runs a bundle's model on frames with the bundle's thresholds.

    Args:
        bundle: The verified bundle.
        session: An open session of its model.
    """

    def __init__(self, bundle: Bundle, session: ModelSession) -> None:
        self.bundle = bundle
        self.session = session
        self.config = bundle.config

    @classmethod
    def open(
        cls,
        bundle: Bundle,
        cache_root: Path,
        *,
        prefer: str | None = None,
        threads: int | None = None,
    ) -> Detector:
        """Open a session of the bundle's model on the best provider and wrap it."""
        session = open_session(
            bundle.model_path,
            bundle.model_sha256,
            bundle.config.input_size,
            cache_root,
            prefer=prefer,
            threads=threads,
        )
        return cls(bundle, session)

    @property
    def provider(self) -> str:
        """The backend running the model."""
        return self.session.provider

    def prepare(self, bgr: npt.NDArray[np.uint8]) -> Prepared:
        """Letterbox a frame into the model input (thread-safe: the decode thread calls it)."""
        start = time.perf_counter()
        tensor, lb = letterbox(bgr, self.config.input_size)
        return Prepared(tensor, lb, (time.perf_counter() - start) * 1e3)

    def detect(self, prepared: Prepared) -> tuple[Detections, Timing]:
        """Run the model on a prepared input and decode its output.

        Returns:
            Detections in frame pixels (sorted by score) and the time of each step.
        """
        start = time.perf_counter()
        raw = self.session.run(prepared.tensor)
        inferred = time.perf_counter()
        found = decode_yolo(
            raw,
            self.config.thresholds,
            self.config.iou,
            num_classes=len(self.config.class_names),
        )
        found.xyxy = unletterbox_xyxy(found.xyxy, prepared.letterbox)
        found = found.with_area()
        done = time.perf_counter()
        timing = Timing(prepared.preprocess_ms, (inferred - start) * 1e3, (done - inferred) * 1e3)
        return found, timing

    def __call__(self, bgr: npt.NDArray[np.uint8]) -> tuple[Detections, Timing]:
        """Detect on one BGR frame (prepare + detect).

        Returns:
            Detections in frame pixels (sorted by score) and the time of each step.
        """
        return self.detect(self.prepare(bgr))


def detections_to_json(found: Detections, class_names: tuple[str, ...]) -> list[dict[str, object]]:
    """Return detections as JSON-ready dicts (class id and name, score, xyxy rounded to 0.01)."""
    return [
        {
            "class_id": int(c),
            "class_name": class_names[int(c)],
            "score": round(float(s), 5),
            "xyxy": [round(float(v), 2) for v in box],
        }
        for box, s, c in zip(found.xyxy, found.scores, found.class_ids, strict=True)
    ]
