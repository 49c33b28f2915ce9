"""Turning one chosen frame into a manifest row: judge, anonymise, encode, write."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from roadmark_pipeline.video.anonymise import Anonymiser, NullAnonymiser, anonymise_frame
from roadmark_pipeline.video.quality import QualityThresholds, assess_frame

MANIFEST_COLUMNS = (
    "frame_id",
    "source_sha256",
    "frame_index",
    "timestamp_ms",
    "path",
    "width",
    "height",
    "brightness",
    "contrast",
    "blur",
    "overexposed_share",
    "underexposed_share",
    "usable",
    "unusable_reason",
    "rule",
    "anonymised",
    "regions_blurred",
    "lat",
    "lon",
    "camera_make",
    "camera_model",
    "original_path",
)
ORIGINALS_DIR = "originals"


@dataclass
class Sample:
    """A chosen frame on its way to disk.

    Attributes:
        index: Frame index in decode order.
        timestamp_ms: Container time since the first frame.
        bgr: Upright pixels, (H, W, 3) uint8.
    """

    index: int
    timestamp_ms: float
    bgr: npt.NDArray[np.uint8]


@dataclass
class FrameWriter:
    """Writes chosen frames into a staging folder and describes them.

    Attributes:
        final_dir: Where the frames will live after the swap (the paths in the manifest).
        anonymiser: Finds the regions to blur.
        thresholds: Quality limits.
        jpeg_quality: JPEG quality, 1-100.
        keep_originals: Also write the unblurred frame under ``originals/``.
        rule: The sampling rule recorded on each row.
        stage_dir: The staging folder currently being filled.
    """

    final_dir: Path
    anonymiser: Anonymiser
    thresholds: QualityThresholds
    jpeg_quality: int
    keep_originals: bool
    rule: str
    stage_dir: Path | None = None

    def write(self, sample: Sample, rule: str | None = None) -> dict[str, object]:
        """Judge, anonymise and write one frame; return its manifest row (without source facts).

        Args:
            sample: The chosen frame.
            rule: Overrides the policy's rule (a still is taken by the rule ``"still"``).

        Returns:
            The row's per-frame columns.

        Raises:
            OSError: When a JPEG cannot be encoded or written.
        """
        if self.stage_dir is None:
            raise RuntimeError("FrameWriter.stage_dir is not set; open a staged folder first")
        name = f"{sample.index:06d}.jpg"
        quality = assess_frame(sample.bgr, self.thresholds)
        blurred, regions = anonymise_frame(sample.bgr, self.anonymiser)
        self._write_jpeg(self.stage_dir / name, blurred)

        original_path = ""
        if self.keep_originals:
            self._write_jpeg(self.stage_dir / ORIGINALS_DIR / name, sample.bgr)
            original_path = str(self.final_dir / ORIGINALS_DIR / name)

        height, width = sample.bgr.shape[:2]
        return {
            "frame_index": int(sample.index),
            "timestamp_ms": float(sample.timestamp_ms),
            "path": str(self.final_dir / name),
            "width": int(width),
            "height": int(height),
            **quality,
            "rule": rule or self.rule,
            "anonymised": not isinstance(self.anonymiser, NullAnonymiser),
            "regions_blurred": regions,
            "original_path": original_path,
        }

    def _write_jpeg(self, path: Path, bgr: npt.NDArray[np.uint8]) -> None:
        ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not ok:
            raise OSError(f"{path.name}: JPEG encoding failed for a {bgr.shape} frame")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encoded.tobytes())
