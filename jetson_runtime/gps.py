"""GPS positions for frames: a track recorded beside a video, interpolated at frame times.

A track is a CSV with a header ``t_ms,lat,lon`` (milliseconds from the start of the video, WGS84
degrees). Frames outside the track's time span get no position (NaN), never an extrapolated one.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

TRACK_HINT = "pass a t_ms,lat,lon CSV recorded with the source (see docs/edge.md)"


class GpsError(ValueError):
    """A GPS track file that cannot be read."""


@dataclass(frozen=True)
class GpsTrack:
    """Time-stamped positions.

    Attributes:
        t_ms: Increasing times in milliseconds from the start of the source.
        lat: Latitudes in degrees.
        lon: Longitudes in degrees.
    """

    t_ms: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]
    lon: npt.NDArray[np.float64]

    @classmethod
    def from_csv(cls, path: Path) -> GpsTrack:
        """Read a ``t_ms,lat,lon`` CSV.

        Raises:
            GpsError: When a column is missing, a value is not a number or out of range.
        """
        try:
            with open(path, newline="", encoding="utf-8") as handle:
                rows = [
                    (float(r["t_ms"]), float(r["lat"]), float(r["lon"]))
                    for r in csv.DictReader(handle)
                ]
        except OSError as exc:
            raise GpsError(f"{path}: cannot read it ({exc.strerror}); {TRACK_HINT}") from exc
        except (KeyError, ValueError, TypeError) as exc:
            raise GpsError(f"{path}: not a t_ms,lat,lon CSV ({exc}); {TRACK_HINT}") from exc
        if not rows:
            raise GpsError(f"{path}: the track is empty; {TRACK_HINT}")
        data = np.array(sorted(rows), dtype=np.float64)
        if np.any(np.abs(data[:, 1]) > 90) or np.any(np.abs(data[:, 2]) > 180):
            raise GpsError(f"{path}: a latitude/longitude is out of range; use WGS84 degrees")
        return cls(data[:, 0], data[:, 1], data[:, 2])

    def at(self, t_ms: float) -> tuple[float, float]:
        """Return (lat, lon) at a source time, NaN outside the track."""
        if not self.t_ms[0] <= t_ms <= self.t_ms[-1]:
            return math.nan, math.nan
        return float(np.interp(t_ms, self.t_ms, self.lat)), float(
            np.interp(t_ms, self.t_ms, self.lon)
        )
