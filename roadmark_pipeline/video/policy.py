"""Which decoded frames to take: every N frames, every T seconds, minus standing-still repeats."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

# Size of the grey thumbnail compared by the near-duplicate test (width, height).
THUMB_WH = (64, 36)
# Timestamps are rounded to the millisecond in some containers: this much early still counts.
_DUE_TOLERANCE_MS = 0.5


@dataclass(frozen=True)
class SamplingPolicy:
    """How frames are chosen from a video.

    Exactly one of ``every_n`` and ``every_seconds`` is set (the default is the reference
    project's 1 frame in 25). With ``every_seconds`` set, pass ``every_n=None``.

    Attributes:
        every_n: Take frames 0, N, 2N, ... in decode order.
        every_seconds: Take the first frame at or after 0, T, 2T, ... seconds of container
            time, so variable frame rates are sampled evenly in time.
        skip_static: Skip a chosen frame that looks like the last kept one (the vehicle stands
            still); the first frame is always kept.
        static_threshold: Mean absolute difference in grey levels (0-255) between 64x36 grey
            thumbnails at or below which two frames count as the same view. On the real
            clips, samples one second apart on a moving road differ by 5-38 and neighbouring
            frames 40 ms apart by 0.8-2.8, so 3.0 keeps every moving second.
    """

    every_n: int | None = 25
    every_seconds: float | None = None
    skip_static: bool = False
    static_threshold: float = 3.0

    def __post_init__(self) -> None:
        if (self.every_n is None) == (self.every_seconds is None):
            raise ValueError(
                f"SamplingPolicy(every_n={self.every_n}, every_seconds={self.every_seconds}): "
                "set exactly one; for a time rule write "
                "SamplingPolicy(every_n=None, every_seconds=T)"
            )
        if self.every_n is not None and (isinstance(self.every_n, bool) or self.every_n < 1):
            raise ValueError(f"every_n={self.every_n!r}: must be a whole number >= 1, e.g. 25")
        if self.every_seconds is not None and not (
            math.isfinite(self.every_seconds) and self.every_seconds > 0
        ):
            raise ValueError(
                f"every_seconds={self.every_seconds!r}: must be a finite number > 0, e.g. 1.0"
            )
        if not (math.isfinite(self.static_threshold) and self.static_threshold >= 0):
            raise ValueError(
                f"static_threshold={self.static_threshold!r}: must be >= 0 grey levels, e.g. 3.0"
            )

    @property
    def rule(self) -> str:
        """The rule as recorded in the manifest, e.g. ``"every_n=25"``."""
        base = (
            f"every_n={self.every_n}"
            if self.every_n is not None
            else f"every_seconds={self.every_seconds:g}"
        )
        return f"{base};skip_static<={self.static_threshold:g}" if self.skip_static else base


class FrameSelector:
    """Applies the index or time rule of a policy to frames as they decode."""

    def __init__(self, policy: SamplingPolicy) -> None:
        self._policy = policy
        self._next_due_ms = 0.0

    def wants(self, index: int, timestamp_ms: float) -> bool:
        """Return True when the frame at ``index`` / ``timestamp_ms`` is due under the rule."""
        if self._policy.every_n is not None:
            return index % self._policy.every_n == 0
        if timestamp_ms + _DUE_TOLERANCE_MS < self._next_due_ms:
            return False
        step_ms = float(self._policy.every_seconds or 0.0) * 1000.0
        slots_passed = math.floor((timestamp_ms + _DUE_TOLERANCE_MS) / step_ms)
        self._next_due_ms = (slots_passed + 1) * step_ms
        return True


class StaticFilter:
    """Remembers the last kept thumbnail and says whether a new one shows the same view."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.skipped = 0
        self._last: npt.NDArray[np.float32] | None = None

    def is_repeat(self, thumb: npt.NDArray[np.uint8]) -> bool:
        """Return True (and count it) when ``thumb`` is a near-duplicate of the last kept one.

        Args:
            thumb: A grey thumbnail of :data:`THUMB_WH`; kept as the reference when it is new.
        """
        current = thumb.astype(np.float32)
        if self._last is not None and thumb_difference(self._last, current) <= self.threshold:
            self.skipped += 1
            return True
        self._last = current
        return False


def thumb_difference(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
    """Mean absolute difference of two equally sized grey thumbnails, in grey levels."""
    return float(np.mean(np.abs(a - b)))
