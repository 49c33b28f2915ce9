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


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("hello\n", "its first line is 'hello'"),  # a one-line note: no rows, but not a track
        ("some notes about the drive\nfrom Tokyo to Osaka\n", "its first line is 'some notes"),
        ("", "the file is empty"),
        ("\n\n", "its first line is blank"),
        ("t_ms,lat,lon\n0,1\n", "line 2"),
    ],
)
def test_a_text_file_that_is_no_track_is_called_so(tmp_path: Path, text: str, why: str) -> None:
    path = tmp_path / "notes.txt"
    path.write_text(text)
    with pytest.raises(GpsError) as caught:
        GpsTrack.from_csv(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: not a t_ms,lat,lon CSV")
    assert why in message and "header 't_ms,lat,lon'" in message
    assert "the track is empty" not in message
    assert "\n" not in message


def test_a_binary_file_is_not_a_track(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42\xff\xfe\x80")
    with pytest.raises(GpsError, match=f"{path}: not a t_ms,lat,lon CSV \\(not UTF-8 text"):
        GpsTrack.from_csv(path)


def test_the_run_check_names_the_option(tmp_path: Path) -> None:
    import argparse

    from jetson_runtime.inputs import UsageError, check_run_inputs

    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n")
    args = argparse.Namespace(
        every_n=1,
        max_frames=None,
        max_failed_starts=3,
        storage_share=0.5,
        device_id=None,
        inbox=None,
        provider=None,
        gps=notes,
        source=str(tmp_path / "unused.mp4"),
    )
    with pytest.raises(UsageError, match=f"^--gps {notes}: not a t_ms,lat,lon CSV"):
        check_run_inputs(args)
