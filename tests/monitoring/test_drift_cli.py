"""roadmark drift REFERENCE CURRENT OUT_DIR, through the installed console script in a
subprocess: verdicts, --columns on the shared cases R18 and R19, and every bad input as one
stderr line with exit code 2 and nothing written."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.cli_helpers import assert_one_line_error

ROADMARK = Path(sys.executable).with_name("roadmark")


def roadmark(*args: str) -> subprocess.CompletedProcess[str]:
    command = [str(ROADMARK), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


def files_under(folder: Path) -> set[Path]:
    return set(folder.rglob("*"))


def test_cli_prints_the_verdict(
    clip_metrics: pd.DataFrame, shifted_metrics: pd.DataFrame, tmp_path: Path
) -> None:
    clip_metrics.iloc[::2].to_parquet(tmp_path / "reference.parquet")
    shifted_metrics.to_parquet(tmp_path / "current.parquet")

    done = roadmark(
        "drift",
        str(tmp_path / "reference.parquet"),
        str(tmp_path / "current.parquet"),
        str(tmp_path / "out"),
        "--day",
        "2025-03-14",
        "--workspace",
        str(tmp_path / "ws"),
    )

    assert done.returncode == 0, done.stderr
    verdict = json.loads(done.stdout)
    assert verdict["status"] == "drift" and verdict["segments"] == {"other-cam": "drift"}
    assert verdict["event_key"].startswith("drift-2025-03-14-")
    assert Path(verdict["html"]).exists()
    assert json.loads(Path(verdict["json"]).read_text())["status"] == "drift"
    assert len(list((tmp_path / "ws").glob("*/snapshots/*.json"))) == 2  # overall + other-cam


def test_cli_fail_on_drift_and_unreadable_input(clip_metrics: pd.DataFrame, tmp_path: Path):
    clip_metrics.to_parquet(tmp_path / "reference.parquet")
    (tmp_path / "current.parquet").write_text("not parquet")
    bad = roadmark(
        "drift",
        str(tmp_path / "reference.parquet"),
        str(tmp_path / "current.parquet"),
        str(tmp_path / "out"),
    )
    assert bad.returncode == 2 and "current.parquet" in bad.stderr

    shifted = clip_metrics.assign(brightness=clip_metrics["brightness"] / 3)
    shifted = shifted.assign(contrast=shifted["contrast"] / 3, blur=shifted["blur"] / 9)
    shifted.to_parquet(tmp_path / "current.parquet")
    flagged = roadmark(
        "drift",
        str(tmp_path / "reference.parquet"),
        str(tmp_path / "current.parquet"),
        str(tmp_path / "out"),
        "--fail-on-drift",
    )
    assert flagged.returncode == 1, flagged.stderr
    assert json.loads(flagged.stdout)["flagged"] is True


def test_cli_columns_compares_r18_road_type(cases_dir: Path, tmp_path: Path) -> None:
    case = cases_dir / "R18"
    done = roadmark(
        "drift",
        str(case / "reference.csv"),
        str(case / "current.csv"),
        str(tmp_path / "out"),
        "--columns",
        "road_type, brightness",
    )
    assert done.returncode == 0, done.stderr
    verdict = json.loads(done.stdout)
    assert verdict["columns"] == ["road_type", "brightness"]
    assert verdict["evaluated_columns"] == ["road_type", "brightness"]
    assert verdict["status"] == "no_drift" and verdict["drifted_share"] == 0.0
    saved = json.loads(Path(verdict["json"]).read_text())
    road = next(row for row in saved["columns"] if row["column"] == "road_type")
    assert road["score"] == pytest.approx(1.0) and not road["drifted"]  # R18: p=1.0, no NaN

    # Without --columns only the telemetry metrics present are compared, and the JSON says so.
    default = roadmark(
        "drift", str(case / "reference.csv"), str(case / "current.csv"), str(tmp_path / "d")
    )
    assert default.returncode == 0, default.stderr
    assert json.loads(default.stdout)["columns"] == ["brightness"]
    assert "not compared: road_type" in default.stderr


def test_cli_columns_judges_r19_num_boxes_as_insufficient(cases_dir: Path, tmp_path: Path) -> None:
    case = cases_dir / "R19"
    done = roadmark(
        "drift",
        str(case / "reference.csv"),
        str(case / "current.csv"),
        str(tmp_path / "out"),
        "--columns",
        "brightness,num_boxes",
    )
    assert done.returncode == 0, done.stderr
    verdict = json.loads(done.stdout)
    assert verdict["status"] == "insufficient_data" and not verdict["flagged"]
    assert verdict["columns"] == ["brightness", "num_boxes"]
    assert verdict["evaluated_columns"] == []
    assert verdict["not_evaluated"] == {
        "brightness": "0 usable current values < min_samples 30",
        "num_boxes": "1 usable current values < min_samples 30",
    }


def _file(folder: Path) -> Path:
    (folder / "a_file").write_text("not a folder")
    return folder / "a_file"


# (extra arguments, where OUT_DIR goes, fragments of the one stderr line)
BAD_DRIFT_INPUTS = [
    (["--drift-share", "2"], "out", ["--drift-share", "(0, 1]"]),
    (["--drift-share", "0"], "out", ["--drift-share", "(0, 1]"]),
    (["--drift-share", "nan"], "out", ["--drift-share", "(0, 1]"]),
    (["--drift-share", "half"], "out", ["--drift-share", "'half'"]),
    (["--min-samples", "0"], "out", ["--min-samples", ">= 1"]),
    (["--min-samples", "2.5"], "out", ["--min-samples", "whole number"]),
    (["--day", "notaday"], "out", ["--day", "'notaday'", "YYYY-MM-DD"]),
    (["--day", "2025-02-30"], "out", ["--day", "YYYY-MM-DD"]),
    (["--columns", "brightness,nope"], "out", ["--columns: nope", "brightness"]),
    (["--columns", "brightness,,blur"], "out", ["--columns", "empty name"]),
    (["--segment-column", "lens"], "out", ["--segment-column: lens", "--no-segments"]),
    ([], "file", ["a_file", "not a folder"]),
    ([], "under_file", ["a_file/out", "cannot write"]),
    ([], "/proc/roadmark-nope/out", ["/proc/roadmark-nope/out", "cannot write"]),
    (["--workspace", "WORKSPACE_FILE"], "out", ["a_file", "Evidently workspace"]),
]


@pytest.mark.parametrize(("extra", "out", "fragments"), BAD_DRIFT_INPUTS)
def test_cli_bad_inputs_are_one_line_and_leave_nothing(
    clip_metrics: pd.DataFrame, tmp_path: Path, extra: list[str], out: str, fragments: list[str]
) -> None:
    tables = tmp_path / "tables"
    tables.mkdir()
    clip_metrics.to_parquet(tables / "reference.parquet")
    clip_metrics.to_parquet(tables / "current.parquet")
    out_dir = {
        "out": tmp_path / "out",
        "file": _file(tmp_path),
        "under_file": _file(tmp_path) / "out",
    }.get(out, Path(out))
    extra = [str(_file(tmp_path)) if arg == "WORKSPACE_FILE" else arg for arg in extra]
    before = files_under(tmp_path)

    done = roadmark(
        "drift",
        str(tables / "reference.parquet"),
        str(tables / "current.parquet"),
        str(out_dir),
        *extra,
    )
    assert_one_line_error(done, *fragments)
    assert files_under(tmp_path) == before


@pytest.mark.parametrize(
    ("write", "fragments"),
    [
        (None, ["reference.parquet", "no such file"]),
        ("folder", ["reference.parquet", "a folder"]),
        (b"", ["reference.parquet", "not a readable table"]),
        (b"PAR1 garbage", ["reference.parquet", "not a readable table"]),
    ],
)
def test_cli_unreadable_reference_is_one_line(
    clip_metrics: pd.DataFrame, tmp_path: Path, write: bytes | str | None, fragments: list[str]
) -> None:
    clip_metrics.to_parquet(tmp_path / "current.parquet")
    reference = tmp_path / "reference.parquet"
    if write == "folder":
        reference.mkdir()
    elif isinstance(write, bytes):
        reference.write_bytes(write)
    done = roadmark("drift", str(reference), str(tmp_path / "current.parquet"), str(tmp_path / "o"))
    assert_one_line_error(done, *fragments)
    assert not (tmp_path / "o").exists()


def test_cli_tables_without_metric_columns_need_columns(cases_dir: Path, tmp_path: Path) -> None:
    table = tmp_path / "roads.csv"
    pd.DataFrame({"road_type": ["highway"] * 40}).to_csv(table, index=False)
    done = roadmark("drift", str(table), str(table), str(tmp_path / "out"))
    assert_one_line_error(done, "no telemetry metric column", "--columns road_type")
    assert not (tmp_path / "out").exists()


def test_drift_ui_bad_inputs_are_one_line(tmp_path: Path) -> None:
    missing = roadmark("drift-ui", str(tmp_path / "nowhere"))
    assert_one_line_error(missing, "nowhere", "no such folder", "--workspace")
    assert_one_line_error(roadmark("drift-ui", str(tmp_path), "--port", "0"), "--port", "1-65535")

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        busy = roadmark("drift-ui", str(tmp_path), "--port", str(port))
    assert_one_line_error(busy, f"--port {port}", "not free")
