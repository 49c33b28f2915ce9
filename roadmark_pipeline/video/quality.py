"""Which sampled frames are fit to label: the shared metrics plus the thresholds that judge them.

The metrics come from :func:`jetson_runtime.quality.frame_quality` (the device measures the
same way, so drift compares like with like); this module only decides what is unusable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from jetson_runtime.quality import frame_quality


@dataclass(frozen=True)
class QualityThresholds:
    """Limits beyond which a frame is flagged unusable (it is kept, with the reason).

    Measured at the fixed 320-pixel analysis width on the four real clips: brightness 97-131,
    contrast 40-54, blur (variance of the Laplacian) 403-1787, over-exposed share at most
    0.005. A Gaussian blur of sigma 3 at 1280 px brings blur to 31-146; a frame darkened to a
    fifth of its light has brightness 20-25.

    Attributes:
        min_brightness: Mean grey level below which a frame is ``too_dark``.
        min_blur: Variance of the Laplacian below which a frame is ``too_blurred``.
        max_overexposed_share: Share of pixels above 239 beyond which it is ``overexposed``.
        min_contrast: Standard deviation of grey levels below which it is ``low_contrast``
            (fog, a covered lens, a frozen grey frame).
    """

    min_brightness: float = 40.0
    min_blur: float = 100.0
    max_overexposed_share: float = 0.25
    min_contrast: float = 10.0

    def reasons(self, metrics: dict[str, float]) -> list[str]:
        """Return the reasons a frame with these metrics is unusable (empty when usable)."""
        checks = (
            ("too_dark", metrics["brightness"] < self.min_brightness),
            ("too_blurred", metrics["blur"] < self.min_blur),
            ("overexposed", metrics["overexposed_share"] > self.max_overexposed_share),
            ("low_contrast", metrics["contrast"] < self.min_contrast),
        )
        return [name for name, failed in checks if failed]


def assess_frame(
    bgr: npt.NDArray[np.uint8], thresholds: QualityThresholds | None = None
) -> dict[str, object]:
    """Measure a frame and judge it.

    Args:
        bgr: The upright frame, before anonymisation (blurred plates must not lower its score).
        thresholds: The limits; :class:`QualityThresholds` defaults when None.

    Returns:
        ``brightness``, ``contrast``, ``blur``, ``overexposed_share``, ``underexposed_share``,
        ``usable`` (bool) and ``unusable_reason`` (comma-separated names, ``""`` when usable).
    """
    limits = thresholds or QualityThresholds()
    metrics = frame_quality(bgr)
    reasons = limits.reasons(metrics)
    return {**metrics, "usable": not reasons, "unusable_reason": ",".join(reasons)}
