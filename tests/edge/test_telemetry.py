"""Telemetry: the contract's columns, the spool's journal and batches, at-least-once upload to
a folder, an HTTP PUT endpoint (real server on 127.0.0.1) and an fsspec store; crashes and
network loss lose nothing and re-uploads duplicate nothing after dedupe."""

from __future__ import annotations

import http.server
import math
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from jetson_runtime.inbox import FsspecInbox, HttpInbox, InboxError, open_inbox
from jetson_runtime.telemetry import (
    SPOOL_FIELDS,
    TELEMETRY_COLUMNS,
    TelemetryError,
    TelemetrySpool,
    telemetry_columns,
)

CLASSES = ("white_line", "yellow_line")
T0 = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)


def make_row(index: int) -> dict:
    """A full row (minus the spool's own fields), as the runner builds it."""
    row = {name: 0.5 for name in TELEMETRY_COLUMNS if name not in SPOOL_FIELDS}
    row.update(
        ts=T0 + timedelta(seconds=index), source="clip.mp4", frame_index=index,
        camera_model="cam", model_version="m1", provider="cpu", width=640, height=360,
        n_detections=index % 3, empty=index % 3 == 0, retries=0,
        mean_confidence=math.nan if index % 3 == 0 else 0.6, gpu_percent=math.nan,
        lat=math.nan, lon=math.nan,
    )  # fmt: skip
    row["det_white_line"], row["det_yellow_line"] = index % 3, 0
    return row


def read_all(folder: Path) -> pd.DataFrame:
    files = sorted(folder.glob("*.parquet"))
    return pd.concat([pd.read_parquet(p) for p in files], ignore_index=True)


def test_columns_follow_the_contract() -> None:
    columns = telemetry_columns(CLASSES)
    assert columns[:3] == ("batch_id", "row_id", "device_id")
    at = columns.index("n_detections")
    assert columns[at + 1 : at + 3] == ("det_white_line", "det_yellow_line")
    assert columns[at + 3] == "mean_confidence" and columns[-2:] == ("lat", "lon")


def test_batches_close_by_rows_and_read_back(tmp_path: Path) -> None:
    spool = TelemetrySpool(tmp_path / "spool", "dev-1", CLASSES, batch_rows=4)
    row_ids = [spool.add(make_row(i)) for i in range(10)]
    spool.flush()

    pending = spool.pending()
    assert [len(pd.read_parquet(p)) for p in pending] == [4, 4, 2]
    table = read_all(tmp_path / "spool" / "pending")
    assert list(table.columns) == list(telemetry_columns(CLASSES))
    assert table["row_id"].tolist() == row_ids
    assert all(
        r.startswith(f"{b}:") for r, b in zip(table["row_id"], table["batch_id"], strict=True)
    )
    assert table["ts"].tolist() == [make_row(i)["ts"] for i in range(10)]
    assert table["mean_confidence"].isna().sum() == 4 and table["empty"].dtype == bool
    assert not list((tmp_path / "spool" / "open").iterdir())


def test_rows_must_be_complete(tmp_path: Path) -> None:
    spool = TelemetrySpool(tmp_path, "dev-1", CLASSES)
    row = make_row(0)
    del row["blur"]
    with pytest.raises(TelemetryError, match=r"missing \['blur'\]"):
        spool.add(row)
    with pytest.raises(TelemetryError, match="plain name"):
        TelemetrySpool(tmp_path, "../evil", CLASSES)


CRASHING_WRITER = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from edge.test_telemetry import CLASSES, make_row
from jetson_runtime.telemetry import TelemetrySpool
spool = TelemetrySpool({spool!r}, "dev-1", CLASSES, batch_rows=1000)
for i in range(25):
    spool.add(make_row(i))
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_rows_survive_a_crash_and_keep_their_batch_id(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    script = CRASHING_WRITER.format(tests=str(Path(__file__).parents[1]), spool=str(spool_dir))
    assert subprocess.run([sys.executable, "-c", script]).returncode == -9
    (journal,) = list((spool_dir / "open").glob("*.jsonl"))
    with open(journal, "a") as handle:
        handle.write('{"torn": ')  # the crash cut the last write short

    restarted = TelemetrySpool(spool_dir, "dev-1", CLASSES)
    (batch,) = restarted.pending()
    table = pd.read_parquet(batch)
    assert batch.stem == journal.stem and len(table) == 25
    assert table["row_id"].tolist() == [f"{journal.stem}:{i}" for i in range(25)]


def test_directory_upload_is_at_least_once_and_idempotent(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    spool = TelemetrySpool(tmp_path / "spool", "dev-1", CLASSES, str(inbox), batch_rows=5)
    for i in range(12):
        spool.add(make_row(i))
    report = spool.close()
    assert len(report.uploaded) == 3 and report.pending == []

    # A crash after the upload but before the batch moved: it goes up again, same name.
    uploaded = sorted((tmp_path / "spool" / "uploaded").glob("*.parquet"))
    uploaded[0].rename(tmp_path / "spool" / "pending" / uploaded[0].name)
    assert spool.upload().uploaded == [uploaded[0].stem]
    assert len(list(inbox.glob("*.parquet"))) == 3
    assert read_all(inbox)["row_id"].is_unique and len(read_all(inbox)) == 12
    assert not list(inbox.glob(".*"))  # no temporary files left


class _PutHandler(http.server.BaseHTTPRequestHandler):
    store: dict[str, bytes] = {}
    fail_with: int | None = None

    def do_PUT(self) -> None:  # noqa: N802
        data = self.rfile.read(int(self.headers["Content-Length"]))
        if type(self).fail_with:
            self.send_response(type(self).fail_with)
        else:
            type(self).store[self.path.rsplit("/", 1)[-1]] = data
            self.send_response(201)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def put_server() -> Iterator[tuple[http.server.HTTPServer, type[_PutHandler]]]:
    handler = type("Handler", (_PutHandler,), {"store": {}, "fail_with": None})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, handler
    server.shutdown()
    server.server_close()


def test_http_inbox_survives_network_loss(tmp_path: Path, put_server) -> None:
    server, handler = put_server
    url = f"http://127.0.0.1:{server.server_port}/fleet/inbox/"
    spool = TelemetrySpool(tmp_path / "spool", "dev-1", CLASSES, url, batch_rows=4)
    assert isinstance(spool.inbox, HttpInbox)

    handler.fail_with = 503  # the inbox refuses: nothing moves, nothing is lost
    for i in range(8):
        spool.add(make_row(i))
    refused = spool.upload()
    assert refused.uploaded == [] and len(refused.pending) == 2 and "503" in refused.error

    dead = TelemetrySpool(tmp_path / "spool", "dev-1", CLASSES, "http://127.0.0.1:9/x/")
    assert "upload failed" in dead.upload().error  # nobody listens: connection refused

    handler.fail_with = None
    restarted = TelemetrySpool(tmp_path / "spool", "dev-1", CLASSES, url)
    assert len(restarted.upload().uploaded) == 2
    assert sorted(handler.store) == sorted(p.name for p in (tmp_path / "spool/uploaded").iterdir())


def test_fsspec_inbox_with_a_real_filesystem(tmp_path: Path) -> None:
    inbox = open_inbox("memory://fleet-test/inbox")
    assert isinstance(inbox, FsspecInbox)
    spool = TelemetrySpool(tmp_path / "spool", "dev-1", CLASSES, inbox, batch_rows=3)
    for i in range(3):
        spool.add(make_row(i))
    assert len(spool.upload().uploaded) == 1
    assert len(inbox._fs.ls("/fleet-test/inbox")) == 1


def test_unreachable_folder_inbox_keeps_batches(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the inbox folder should be")
    spool = TelemetrySpool(tmp_path / "spool", "dev-1", CLASSES, str(blocker / "inbox"))
    spool.add(make_row(0))
    report = spool.close()
    assert report.uploaded == [] and len(report.pending) == 1
    with pytest.raises(InboxError):
        open_inbox(str(blocker / "inbox")).put("x.parquet", b"x")
