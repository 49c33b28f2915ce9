"""Latitude and longitude for every sampled frame, from a sidecar track beside the video.

A track is ``<video stem>.gpx``, ``<stem>.nmea`` or ``<stem>.csv`` (the first found, in that
order). Positions are interpolated linearly at each frame's timestamp; a frame outside the
track's time span gets NaN rather than an invented position.

Time alignment:
- GPX, NMEA RMC and CSV with ISO dates or Unix seconds carry absolute UTC times. Frame
  ``t`` ms is matched to ``start + t``, where ``start`` is the video's ``creation_time`` tag;
  without that tag the track's first fix is taken as the video's first frame.
- A CSV whose timestamps are small numbers (below 10^8) holds seconds since the video started.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from roadmark_pipeline.video.errors import SidecarError
from roadmark_pipeline.video.nmea import parse_nmea

LOG = logging.getLogger(__name__)

TRACK_SUFFIXES = (".gpx", ".nmea", ".csv")
# Numbers at or above this are Unix seconds; below, seconds since the video's first frame.
EPOCH_FLOOR_S = 1e8
_CSV_TIME = ("timestamp", "time", "t", "timestamp_s")
_CSV_LAT = ("lat", "latitude")
_CSV_LON = ("lon", "lng", "long", "longitude")


@dataclass(frozen=True)
class GpsTrack:
    """Fixes sorted by time.

    Attributes:
        times_s: Seconds: Unix time when ``absolute``, else since the video's first frame.
        lat: Latitudes in degrees.
        lon: Longitudes in degrees.
        absolute: Whether ``times_s`` are Unix seconds.
        source: The file the track came from.
    """

    times_s: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]
    lon: npt.NDArray[np.float64]
    absolute: bool
    source: str

    def locate(
        self, timestamps_ms: npt.ArrayLike, video_start: datetime | None = None
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Interpolate positions at frame timestamps.

        Args:
            timestamps_ms: Frame times in ms since the video's first frame.
            video_start: UTC time of the first frame, for absolute tracks.

        Returns:
            ``(lat, lon)`` arrays; NaN where a frame lies outside the track's span.
        """
        query = np.asarray(timestamps_ms, dtype=np.float64) / 1000.0
        if self.absolute:
            anchor = video_start.timestamp() if video_start else float(self.times_s[0])
            query = query + anchor
        # TODO(longitude across the antimeridian interpolates the long way round, when a fleet
        # drives there)
        inside = (query >= self.times_s[0]) & (query <= self.times_s[-1])
        lat = np.where(inside, np.interp(query, self.times_s, self.lat), np.nan)
        lon = np.where(inside, np.interp(query, self.times_s, self.lon), np.nan)
        if not inside.all():
            LOG.warning(
                "%s: %d of %d frames fall outside the track's time span (lat/lon NaN)",
                Path(self.source).name,
                int((~inside).sum()),
                inside.size,
            )
        return lat, lon


def find_track(source: Path) -> Path | None:
    """Return the sidecar track of ``source`` (``.gpx``, ``.nmea`` or ``.csv``), or None."""
    for suffix in TRACK_SUFFIXES:
        candidate = source.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    return None


def load_track(path: Path) -> GpsTrack:
    """Read a GPX, NMEA or CSV track.

    Args:
        path: The track file; its suffix picks the parser.

    Returns:
        The track, sorted by time, duplicate times dropped.

    Raises:
        SidecarError: When the file cannot be parsed or holds no fix.
    """
    parsers = {".gpx": _parse_gpx, ".nmea": _parse_nmea_file, ".csv": _parse_csv}
    parser = parsers.get(path.suffix.lower())
    if parser is None:
        raise SidecarError(f"{path}: unknown track format; use .gpx, .nmea or .csv")
    try:
        times, lat, lon, absolute = parser(path)
    except (ValueError, KeyError, ElementTree.ParseError, pd.errors.ParserError) as error:
        raise SidecarError(f"{path}: unreadable GPS track ({error}); {_fix(path)}") from error
    if times.size == 0:
        raise SidecarError(f"{path}: no GPS fix in the track; {_fix(path)}")

    order = np.argsort(times, kind="stable")
    times, lat, lon = times[order], lat[order], lon[order]
    keep = np.concatenate([[True], np.diff(times) > 0])
    LOG.info("%s: %d fixes over %.1f s", path.name, int(keep.sum()), times[-1] - times[0])
    return GpsTrack(times[keep], lat[keep], lon[keep], absolute, str(path))


def geotag(
    source: Path, timestamps_ms: npt.ArrayLike, video_start: datetime | None
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Return lat/lon for each timestamp from the source's sidecar track (NaN without one).

    Args:
        source: The video; its track is ``<stem>.gpx|.nmea|.csv``.
        timestamps_ms: Frame times in ms since the first frame.
        video_start: UTC time of the first frame (the container's ``creation_time``), if known.

    Returns:
        ``(lat, lon)`` arrays of the timestamps' length.
    """
    count = np.asarray(timestamps_ms).size
    track_path = find_track(source)
    if track_path is None:
        return np.full(count, np.nan), np.full(count, np.nan)
    return load_track(track_path).locate(timestamps_ms, video_start)


def parse_creation_time(value: str | None) -> datetime | None:
    """Parse a container's ``creation_time`` tag (ISO 8601) as UTC; None when absent or bad."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        LOG.warning("ignoring unreadable creation_time %r", value)
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _parse_gpx(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    root = ElementTree.parse(path).getroot()
    times, lat, lon = [], [], []
    for point in root.iter():
        if _local(point.tag) not in ("trkpt", "rtept", "wpt"):
            continue
        stamp = next((child.text for child in point if _local(child.tag) == "time"), None)
        if not stamp:
            continue
        times.append(_to_unix(stamp))
        lat.append(float(point.attrib["lat"]))
        lon.append(float(point.attrib["lon"]))
    return np.asarray(times, float), np.asarray(lat, float), np.asarray(lon, float), True


def _parse_nmea_file(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    fixes = parse_nmea(path.read_text(encoding="ascii", errors="replace"))
    columns = np.asarray(fixes, dtype=float).reshape(-1, 3)
    return columns[:, 0], columns[:, 1], columns[:, 2], True


def _parse_csv(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    table = pd.read_csv(path)
    names = {str(name).strip().lower(): name for name in table.columns}
    time_col, lat_col, lon_col = (
        _pick(names, options) for options in (_CSV_TIME, _CSV_LAT, _CSV_LON)
    )
    lat = pd.to_numeric(table[lat_col], errors="raise").to_numpy(float)
    lon = pd.to_numeric(table[lon_col], errors="raise").to_numpy(float)
    raw = table[time_col]
    numeric = pd.to_numeric(raw, errors="coerce")
    if numeric.notna().all():
        seconds = numeric.to_numpy(float)
        return seconds, lat, lon, bool(seconds.max() >= EPOCH_FLOOR_S)
    stamps = pd.to_datetime(raw, utc=True, format="ISO8601")
    seconds = (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(float)
    return seconds, lat, lon, True


def _pick(names: dict[str, str], options: tuple[str, ...]) -> str:
    for option in options:
        if option in names:
            return names[option]
    raise KeyError(f"no column named any of {', '.join(options)}")


def _to_unix(stamp: str) -> float:
    parsed = datetime.fromisoformat(stamp.strip().replace("Z", "+00:00"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _fix(path: Path) -> str:
    hints = {
        ".gpx": "export the track as GPX 1.1 with <trkpt lat lon><time>",
        ".nmea": "keep the camera's $GPRMC sentences",
        ".csv": "write columns timestamp,lat,lon (ISO 8601 UTC or seconds from video start)",
    }
    return hints.get(path.suffix.lower(), "use .gpx, .nmea or .csv")
