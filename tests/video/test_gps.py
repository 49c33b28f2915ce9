"""Every sampled frame gets latitude/longitude from a GPX, NMEA or CSV sidecar, by timestamp.

The drive moves along a straight line at constant speed, so the true position at any time is
known exactly and linear interpolation must hit it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from roadmark_pipeline.video.anonymise import NullAnonymiser
from roadmark_pipeline.video.errors import SidecarError
from roadmark_pipeline.video.gps import load_track
from roadmark_pipeline.video.nmea import parse_nmea
from roadmark_pipeline.video.sampling import SamplingPolicy, sample_source
from tests.video.clips import make_clip, remux

START = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)


def _true_position(seconds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return 48.1 + 0.0001 * seconds, 11.5 - 0.0002 * seconds


def _drive(tmp_path: Path, creation_time: datetime | None = START) -> Path:
    plain = make_clip(tmp_path / "plain.mp4", count=50, fps=10)  # 5 s of driving
    clip = tmp_path / "drive.mp4"
    tags = ["-metadata", f"creation_time={creation_time.isoformat()}"] if creation_time else []
    remux(plain, clip, *tags)
    plain.unlink()
    return clip


def _gpx(times: list[float]) -> str:
    lat, lon = _true_position(np.asarray(times))
    points = "".join(
        f'<trkpt lat="{a:.7f}" lon="{o:.7f}"><time>'
        f"{(START + timedelta(seconds=t)).strftime('%Y-%m-%dT%H:%M:%S.%fZ')}</time></trkpt>"
        for t, a, o in zip(times, lat, lon, strict=True)
    )
    return (
        '<?xml version="1.0"?><gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1">'
        f"<trk><trkseg>{points}</trkseg></trk></gpx>"
    )


def _nmea_sentence(body: str) -> str:
    checksum = 0
    for char in body:
        checksum ^= ord(char)
    return f"${body}*{checksum:02X}"


def _nmea(times: list[float]) -> str:
    lat, lon = _true_position(np.asarray(times))
    lines = []
    for t, a, o in zip(times, lat, lon, strict=True):
        stamp = START + timedelta(seconds=t)
        lat_text = f"{int(a):02d}{(a % 1) * 60:09.6f}"
        lon_text = f"{int(o):03d}{(o % 1) * 60:09.6f}"
        hhmmss = stamp.strftime("%H%M%S.") + f"{stamp.microsecond // 10000:02d}"
        date = stamp.strftime("%d%m%y")
        lines.append(
            _nmea_sentence(f"GPRMC,{hhmmss},A,{lat_text},N,{lon_text},E,30.0,90.0,{date},,,A")
        )
        lines.append(_nmea_sentence(f"GPGGA,{hhmmss},{lat_text},N,{lon_text},E,1,08,0.9,500,M,,,,"))
    # Noise a real log carries: a void fix, a corrupted checksum, a foreign sentence.
    lines.insert(3, _nmea_sentence("GPRMC,100001.50,V,0000.000000,N,00000.000000,E,,,010524,,,N"))
    lines.insert(5, "$GPRMC,100002.50,A,1000.000000,N,01000.000000,E,0,0,010524,,,A*00")
    lines.insert(7, _nmea_sentence("GPGSV,3,1,11,01,40,083,46"))
    return "\n".join(lines) + "\n"


def _csv_absolute(times: list[float]) -> str:
    lat, lon = _true_position(np.asarray(times))
    rows = [
        f"{(START + timedelta(seconds=t)).isoformat()},{a:.7f},{o:.7f}"
        for t, a, o in zip(times, lat, lon, strict=True)
    ]
    return "timestamp,lat,lon\n" + "\n".join(rows) + "\n"


def _csv_relative(times: list[float]) -> str:
    lat, lon = _true_position(np.asarray(times))
    rows = [f"{t},{a:.7f},{o:.7f}" for t, a, o in zip(times, lat, lon, strict=True)]
    return "timestamp,latitude,longitude\n" + "\n".join(rows) + "\n"


TRACKS = {
    ".gpx": _gpx,
    ".nmea": _nmea,
    ".csv": _csv_absolute,
}


@pytest.mark.parametrize("suffix", [".gpx", ".nmea", ".csv"])
def test_frames_get_positions_from_an_absolute_track(tmp_path: Path, suffix: str) -> None:
    clip = _drive(tmp_path)
    fix_times = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]  # 1 Hz, as dashcams log
    (tmp_path / f"drive{suffix}").write_text(TRACKS[suffix](fix_times))

    manifest = sample_source(
        clip, tmp_path / "out", SamplingPolicy(every_n=7), anonymiser=NullAnonymiser()
    )

    seconds = manifest["timestamp_ms"].to_numpy() / 1000.0
    lat, lon = _true_position(seconds)
    np.testing.assert_allclose(manifest["lat"], lat, atol=2e-7)
    np.testing.assert_allclose(manifest["lon"], lon, atol=2e-7)


def test_relative_csv_needs_no_creation_time(tmp_path: Path) -> None:
    clip = _drive(tmp_path, creation_time=None)
    (tmp_path / "drive.csv").write_text(_csv_relative([0.0, 2.5, 5.0]))

    manifest = sample_source(
        clip, tmp_path / "out", SamplingPolicy(every_n=10), anonymiser=NullAnonymiser()
    )

    lat, lon = _true_position(manifest["timestamp_ms"].to_numpy() / 1000.0)
    np.testing.assert_allclose(manifest["lat"], lat, atol=2e-7)
    np.testing.assert_allclose(manifest["lon"], lon, atol=2e-7)


def test_without_creation_time_the_first_fix_is_the_first_frame(tmp_path: Path) -> None:
    clip = _drive(tmp_path, creation_time=None)
    (tmp_path / "drive.gpx").write_text(_gpx([0.0, 1.0, 2.0, 3.0, 4.0, 5.0]))

    manifest = sample_source(
        clip, tmp_path / "out", SamplingPolicy(every_n=25), anonymiser=NullAnonymiser()
    )

    lat, _ = _true_position(manifest["timestamp_ms"].to_numpy() / 1000.0)
    np.testing.assert_allclose(manifest["lat"], lat, atol=2e-7)


def test_frames_outside_the_track_get_nan_not_a_guess(tmp_path: Path) -> None:
    clip = _drive(tmp_path)
    (tmp_path / "drive.gpx").write_text(_gpx([1.0, 2.0, 3.0]))  # the track starts late, ends early

    manifest = sample_source(
        clip, tmp_path / "out", SamplingPolicy(every_n=10), anonymiser=NullAnonymiser()
    )

    inside = manifest["timestamp_ms"].between(1000, 3000)
    assert manifest.loc[inside, "lat"].notna().all()
    assert manifest.loc[~inside, "lat"].isna().all() and (~inside).sum() == 2  # 0 s and 4 s


def test_nmea_skips_void_corrupted_and_foreign_sentences() -> None:
    fixes = parse_nmea(_nmea([0.0, 1.0, 2.0]))

    assert len(fixes) == 6  # one RMC and one GGA per second, nothing else
    lat = np.asarray([fix[1] for fix in fixes])
    assert np.all((lat > 48.0) & (lat < 48.2))


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("drive.gpx", "<gpx><trk><trkseg><trkpt lat='x'", "unreadable GPS track"),
        ("drive.gpx", "<gpx></gpx>", "no GPS fix"),
        ("drive.csv", "when,where\n1,2\n", "no column named any of"),
        ("drive.nmea", "$GPGSV,3,1,11*00\n", "no GPS fix"),
    ],
)
def test_bad_tracks_are_named_with_the_fix(
    tmp_path: Path, name: str, content: str, says: str
) -> None:
    path = tmp_path / name
    path.write_text(content)

    with pytest.raises(SidecarError) as raised:
        load_track(path)

    assert str(raised.value).startswith(f"{path}: ")
    assert says in str(raised.value)
