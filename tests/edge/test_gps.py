"""GPS tracks beside a recording: interpolated inside, NaN outside, bad files named."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from jetson_runtime.gps import GpsError, GpsTrack


def test_positions_are_interpolated_inside_the_track(tmp_path: Path) -> None:
    track_file = tmp_path / "drive.gps.csv"
    track_file.write_text("t_ms,lat,lon\n1000,35.0,139.0\n0,34.9,138.9\n2000,35.2,139.4\n")
    track = GpsTrack.from_csv(track_file)
    assert track.at(500) == pytest.approx((34.95, 138.95))
    assert track.at(1500) == pytest.approx((35.1, 139.2))
    assert all(math.isnan(v) for v in track.at(2500))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("time,lat,lon\n0,1,2\n", "t_ms,lat,lon"),
        ("t_ms,lat,lon\n0,north,2\n", "t_ms,lat,lon"),
        ("t_ms,lat,lon\n", "empty"),
        ("t_ms,lat,lon\n0,95,2\n", "out of range"),
    ],
)
def test_bad_tracks(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(GpsError, match=message):
        GpsTrack.from_csv(path)
