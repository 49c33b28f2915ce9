"""collect_inbox: dedupe by batch and row id, schema check, quarantine, day filter."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from roadmark_pipeline.monitoring.fleet import collect_inbox, slice_summary, validate_batch
from tests.monitoring.conftest import DAY, make_batch


def put(inbox: Path, frame: pd.DataFrame, name: str | None = None) -> Path:
    path = inbox / (name or f"{frame['batch_id'].iloc[0]}.parquet")
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return path


def collect(inbox: Path, tmp_path: Path, **kwargs):
    kwargs.setdefault("day", DAY)
    kwargs.setdefault("seen_batch_ids", set())
    return collect_inbox(inbox, quarantine_dir=tmp_path / "quarantine", **kwargs)


def test_accepts_good_batches_and_skips_seen_ones(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    put(inbox, make_batch("b1", 10))
    put(inbox, make_batch("b2", 15, device_id="dev-02", seed=1))
    put(inbox, make_batch("b0", 5, seed=2))

    found = collect(inbox, tmp_path, seen_batch_ids={"b0"})

    assert sorted(found.accepted) == ["b1", "b2"]
    assert found.duplicates == ["b0"]
    assert len(found.table) == 25
    assert found.table["ts"].is_monotonic_increasing
    assert str(found.table["ts"].dt.tz) == "UTC"
    assert found.quarantined == []


def test_same_batch_uploaded_twice_and_rows_recut_into_a_new_batch(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    first = make_batch("b1", 10)
    put(inbox / "dev-01", first)
    put(inbox / "retry", first)  # the same batch uploaded again into another folder
    recut = first.iloc[5:].assign(batch_id="b1r")  # rows 5..9 again, under a new batch id
    put(inbox, recut)

    found = collect(inbox, tmp_path)

    assert found.duplicates == ["b1"]
    assert sorted(found.accepted) == ["b1", "b1r"]
    assert found.duplicate_rows == 5
    assert len(found.table) == 10
    assert found.table["row_id"].is_unique


def test_running_twice_gives_the_same_table(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    put(inbox, make_batch("b1", 10))
    put(inbox, make_batch("b2", 10, seed=3))
    first = collect(inbox, tmp_path)
    second = collect(inbox, tmp_path)
    pd.testing.assert_frame_equal(first.table, second.table)


def test_day_filter_keeps_rows_of_the_day_only(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    late = dt.datetime(DAY.year, DAY.month, DAY.day, 23, 59, 50, tzinfo=dt.UTC)
    put(inbox, make_batch("midnight", 20, start=late))  # 10 rows on DAY, 10 on the next day
    put(inbox, make_batch("old", 5, start=late - dt.timedelta(days=3)))

    on_day = collect(inbox, tmp_path)
    next_day = collect(inbox, tmp_path, day=DAY + dt.timedelta(days=1))
    every_day = collect(inbox, tmp_path, day=None)

    assert (len(on_day.table), len(next_day.table), len(every_day.table)) == (10, 10, 25)
    assert on_day.other_days == ["old"]
    assert set(on_day.table["ts"].dt.date) == {DAY}


def test_naive_and_other_zone_timestamps_are_read_as_utc(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    naive = make_batch("naive", 3)
    naive["ts"] = naive["ts"].dt.tz_localize(None)
    tokyo = make_batch("tokyo", 3)
    tokyo["ts"] = tokyo["ts"].dt.tz_convert("Asia/Tokyo")
    put(inbox, naive)
    put(inbox, tokyo)

    found = collect(inbox, tmp_path)

    assert len(found.table) == 6
    assert found.table["ts"].dt.hour.eq(8).all()


def _drop(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    return frame.drop(columns=[column])


def _retype(frame: pd.DataFrame, column: str, value: object) -> pd.DataFrame:
    return frame.assign(**{column: value})


BAD_BATCHES = [
    # (name, how the batch is broken, a word the reason must contain)
    ("missing_latency", lambda f: _drop(f, "latency_ms"), "missing columns"),
    ("missing_ts", lambda f: _drop(f, "ts"), "missing columns"),
    ("text_brightness", lambda f: _retype(f, "brightness", "bright"), "'brightness'"),
    ("float_detections", lambda f: _retype(f, "n_detections", 1.5), "'n_detections'"),
    ("int_empty", lambda f: _retype(f, "empty", 0), "'empty'"),
    ("string_ts", lambda f: _retype(f, "ts", "2025-03-14"), "'ts'"),
    ("float_class_count", lambda f: _retype(f, "det_guardrail", 0.5), "'det_guardrail'"),
    ("numeric_device", lambda f: _retype(f, "device_id", 7), "'device_id'"),
    ("two_batch_ids", lambda f: f.assign(batch_id=["two_batch_ids", "x"] * 5), "one value"),
    ("null_row_id", lambda f: f.assign(row_id=[None] + list(f["row_id"][1:])), "row_id"),
    ("empty_rows", lambda f: f.iloc[0:0], "no rows"),
]


@pytest.mark.parametrize(("name", "breaker", "word"), BAD_BATCHES, ids=[b[0] for b in BAD_BATCHES])
def test_bad_batches_are_quarantined_with_the_reason(tmp_path: Path, name, breaker, word) -> None:
    inbox = tmp_path / "inbox"
    bad = put(inbox, breaker(make_batch(name, 10)), name=f"{name}.parquet")
    put(inbox, make_batch("good", 10, seed=5))
    before = bad.read_bytes()

    found = collect(inbox, tmp_path)

    assert found.accepted == ["good"]
    assert [Path(file).name for file, _ in found.quarantined] == [f"{name}.parquet"]
    assert word in found.quarantined[0][1]
    copy = tmp_path / "quarantine" / f"{name}.parquet"
    reason = json.loads((tmp_path / "quarantine" / f"{name}.reason.json").read_text())
    assert copy.read_bytes() == before and bad.read_bytes() == before  # nothing deleted
    assert any(word in text for text in reason["reasons"])


@pytest.mark.parametrize(
    ("content", "word"),
    [(b"", "Parquet"), (b"batch_id,row_id\nb,b:0\n", "Parquet"), (b"PAR1garbagePAR1", "Parquet")],
    ids=["zero_bytes", "csv_named_parquet", "corrupt"],
)
def test_unreadable_files_are_quarantined(tmp_path: Path, content: bytes, word: str) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "junk.parquet").write_bytes(content)

    found = collect(inbox, tmp_path)

    assert found.accepted == [] and found.table.empty
    assert word in found.quarantined[0][1]
    assert (tmp_path / "quarantine" / "junk.reason.json").exists()


def test_file_name_must_match_batch_id(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    put(inbox, make_batch("b1", 5), name="renamed.parquet")
    found = collect(inbox, tmp_path)
    assert "named 'renamed.parquet'" in found.quarantined[0][1]


def test_same_bad_name_in_two_folders_keeps_both_copies(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    for device in ("dev-01", "dev-02"):
        (inbox / device).mkdir(parents=True)
        (inbox / device / "b.parquet").write_bytes(device.encode())
    found = collect(inbox, tmp_path)
    assert len(found.quarantined) == 2
    assert (tmp_path / "quarantine" / "dev-01__b.parquet").read_bytes() == b"dev-01"
    assert (tmp_path / "quarantine" / "dev-02__b.parquet").read_bytes() == b"dev-02"


def test_missing_inbox_names_the_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        collect(tmp_path / "nowhere", tmp_path)


def test_validate_batch_accepts_the_contract_and_all_null_gpu() -> None:
    assert validate_batch(make_batch("b1", 4)) == []


def test_slice_summary_numbers(tmp_path: Path) -> None:
    a = make_batch("a", 20, device_id="dev-01", camera_model="cam-a")
    a["latency_ms"] = np.arange(1.0, 21.0)
    a["empty"] = [True] * 5 + [False] * 15
    b = make_batch("b", 10, device_id="dev-02", camera_model="cam-b", seed=4)
    summary = slice_summary(pd.concat([a, b], ignore_index=True))

    row = summary.set_index("device_id").loc["dev-01"]
    assert list(summary["device_id"]) == ["dev-01", "dev-02"]
    assert row["frames"] == 20
    assert row["latency_p50_ms"] == pytest.approx(10.5)
    assert row["latency_p95_ms"] == pytest.approx(19.05)
    assert row["empty_share"] == pytest.approx(0.25)
    assert np.isnan(row["gpu_percent_mean"])
    assert slice_summary(pd.DataFrame()).empty
