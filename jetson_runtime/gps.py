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
HEADER = "t_ms,lat,lon"
COLUMNS = tuple(HEADER.split(","))


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
            GpsError: When the file is empty or not such a CSV (its header lacks a column, a
                value is not a number), holds no position, or a position is out of range.
        """
        rows = _read_rows(path)
        if not rows:
            raise GpsError(f"{path}: the track is empty (a {HEADER} header, no rows); {TRACK_HINT}")
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


def _not_csv(path: Path, why: str) -> GpsError:
    return GpsError(
        f"{path}: not a {HEADER} CSV ({why}); pass a CSV whose first line is the header "
        f"'{HEADER}', then one row per position such as '0,35.68,139.76' (see docs/edge.md)"
    )


def _header_problem(header: list[str] | None) -> str | None:
    if header is None:
        return "the file is empty"
    if not any(header):
        return "its first line is blank"
    if not set(COLUMNS) <= set(header):
        return f"its first line is {','.join(header)[:80]!r}"
    return None


def _read_rows(path: Path) -> list[tuple[float, float, float]]:
    """Return the (t_ms, lat, lon) rows of a track file, or say why it is not such a CSV."""
    rows = []
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            problem = _header_problem(reader.fieldnames)
            if problem is not None:
                raise _not_csv(path, problem)
            for record in reader:
                try:
                    rows.append(tuple(float(record[name]) for name in COLUMNS))
                except (TypeError, ValueError):
                    values = [record.get(name) for name in COLUMNS]
                    why = f"line {reader.line_num}: {HEADER} = {values} are not three numbers"
                    raise _not_csv(path, why) from None
    except OSError as exc:
        raise GpsError(f"{path}: cannot read it ({exc.strerror}); {TRACK_HINT}") from exc
    except UnicodeDecodeError as exc:
        raise _not_csv(path, f"not UTF-8 text: byte {exc.start} is not a character") from exc
    except csv.Error as exc:
        raise _not_csv(path, str(exc)) from exc
    return rows
