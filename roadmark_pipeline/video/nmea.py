"""NMEA 0183 sentences (RMC, GGA) as dashcams log them, turned into timed fixes."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time

LOG = logging.getLogger(__name__)


def parse_nmea(text: str) -> list[tuple[float, float, float]]:
    """Return ``(unix seconds, lat, lon)`` for every valid RMC/GGA fix in an NMEA log.

    RMC sentences carry the date; a GGA sentence takes the date of the last RMC before it and is
    skipped when none came yet. Sentences with a bad checksum, no fix (RMC status ``V``, GGA
    quality 0) or empty fields are skipped and counted in the log.

    Args:
        text: The log, one sentence per line.

    Returns:
        The fixes in file order.
    """
    fixes: list[tuple[float, float, float]] = []
    day: date | None = None
    skipped = 0
    for line in text.splitlines():
        fields = _checked_fields(line.strip())
        if fields is None:
            skipped += bool(line.strip())
            continue
        kind = fields[0][-3:]
        try:
            if kind == "RMC":
                day = _rmc_day(fields) or day
                fix = _rmc_fix(fields)
            elif kind == "GGA" and day is not None:
                fix = _gga_fix(fields, day)
            else:
                fix = None
        except (ValueError, IndexError):
            fix = None
        if fix is None:
            skipped += kind in ("RMC", "GGA")
            continue
        fixes.append(fix)
    if skipped:
        LOG.info("NMEA: %d sentences without a usable fix skipped", skipped)
    return fixes


def _checked_fields(line: str) -> list[str] | None:
    if not line.startswith("$"):
        return None
    body, star, checksum = line[1:].partition("*")
    if star:
        expected = 0
        for char in body:
            expected ^= ord(char)
        try:
            if int(checksum[:2], 16) != expected:
                return None
        except ValueError:
            return None
    return body.split(",")


def _rmc_day(fields: list[str]) -> date | None:
    stamp = fields[9]
    if len(stamp) != 6:
        return None
    return date(2000 + int(stamp[4:6]), int(stamp[2:4]), int(stamp[0:2]))


def _rmc_fix(fields: list[str]) -> tuple[float, float, float] | None:
    day = _rmc_day(fields)
    if fields[2] != "A" or day is None:
        return None
    return _fix(day, fields[1], fields[3], fields[4], fields[5], fields[6])


def _gga_fix(fields: list[str], day: date) -> tuple[float, float, float] | None:
    if not fields[6] or fields[6] == "0":
        return None
    return _fix(day, fields[1], fields[2], fields[3], fields[4], fields[5])


def _fix(
    day: date, hhmmss: str, lat: str, lat_hemi: str, lon: str, lon_hemi: str
) -> tuple[float, float, float] | None:
    if not (hhmmss and lat and lon):
        return None
    seconds = float(hhmmss[4:])
    clock = time(
        int(hhmmss[0:2]),
        int(hhmmss[2:4]),
        int(seconds),
        int(round((seconds % 1) * 1e6)) % 1_000_000,
        tzinfo=UTC,
    )
    stamp = datetime.combine(day, clock).timestamp()
    return stamp, _degrees(lat, 2, lat_hemi == "S"), _degrees(lon, 3, lon_hemi == "W")


def _degrees(value: str, degree_digits: int, negative: bool) -> float:
    degrees = int(value[:degree_digits]) + float(value[degree_digits:]) / 60.0
    return -degrees if negative else degrees
