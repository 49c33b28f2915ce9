"""The device state (``state.json``): a damaged one is refused, never reset or overwritten; it
and the command line's JSON are strict JSON (NaN as null). Also the folder inbox checked before
a run, and the one-line error for an unknown option."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from jetson_runtime import cli
from jetson_runtime.inbox import InboxError, open_inbox
from jetson_runtime.slots import (
    STATE_FILE,
    DeviceLayout,
    StateError,
    read_state,
    strict_json,
    update_state,
    write_state,
)

from .test_cli_errors import edge


def _strict(text: str) -> dict:
    def refuse(constant: str) -> None:
        raise AssertionError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("{garbage", "not JSON"),
        ("[1, 2]", "a JSON list, not an object"),
        (b"\xff\xfe{}", "cannot read it"),
    ],
)
def test_a_damaged_state_is_refused_and_kept(tmp_path: Path, content, words: str) -> None:
    layout = DeviceLayout(tmp_path)
    path = tmp_path / STATE_FILE
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    before = path.read_bytes()
    for act in (lambda: read_state(layout), lambda: update_state(layout, failed_starts=1)):
        with pytest.raises(StateError, match=words) as caught:
            act()
        message = str(caught.value)
        assert str(path) in message and "re-provision" in message and "\n" not in message
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [STATE_FILE]  # no temp file left


def test_a_missing_state_is_empty(tmp_path: Path) -> None:
    assert read_state(DeviceLayout(tmp_path / "new")) == {}


def test_state_is_strict_json_and_written_atomically(tmp_path: Path) -> None:
    layout = DeviceLayout(tmp_path)
    write_state(layout, {"last_run": {"mean_latency_ms": math.nan, "fps": math.inf, "n": [1.5]}})
    assert _strict((tmp_path / STATE_FILE).read_text()) == {
        "last_run": {"fps": None, "mean_latency_ms": None, "n": [1.5]}
    }
    assert [p.name for p in tmp_path.iterdir()] == [STATE_FILE]
    assert strict_json((math.nan, {"a": -math.inf, "b": "NaN"})) == [None, {"a": None, "b": "NaN"}]


def test_command_line_json_is_strict(capsys: pytest.CaptureFixture[str]) -> None:
    cli._emit({"frames": 0, "mean_latency_ms": math.nan, "per_class": {"x": 0}})
    assert _strict(capsys.readouterr().out)["mean_latency_ms"] is None


@pytest.mark.parametrize("extra", [[], ["--json"]])
def test_status_refuses_a_damaged_state(tmp_path: Path, extra: list[str]) -> None:
    (tmp_path / STATE_FILE).write_text("{garbage")
    done = edge("status", "--device-dir", tmp_path, *extra)
    assert done.returncode == 4
    assert f"{tmp_path / STATE_FILE}: damaged (not JSON" in done.error_line
    assert (tmp_path / STATE_FILE).read_text() == "{garbage"


def test_update_refuses_a_damaged_state(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).write_text("{garbage")
    done = edge("update", "--repo", "http://127.0.0.1:9", "--device-dir", tmp_path)
    assert done.returncode == 4 and f"{tmp_path / STATE_FILE}: damaged" in done.error_line
    assert [p.name for p in tmp_path.iterdir()] == [STATE_FILE]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--bogus"], "unknown option --bogus; see 'roadmark-edge --help'"),
        (["run", "--bogus"], "unknown option --bogus"),
        (["status", "--device-dir", "d", "--bogus", "-x"], "unknown options --bogus -x"),
        (["status", "--device-dir", "d", "extra"], "unexpected argument extra"),
    ],
)
def test_an_unknown_option_is_named(args: list[str], words: str) -> None:
    done = edge(*args)
    assert done.returncode == 2 and words in done.error_line
    assert "required" not in done.error_line


def test_folder_inbox_check(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    refused = {
        afile: "is a file; pass a folder",
        afile / "sub": f"cannot be created ({afile}: a file)",
        Path("/proc/x"): "cannot be created: writing in /proc fails",
    }
    for target, words in refused.items():
        with pytest.raises(InboxError, match=words.replace("(", r"\(").replace(")", r"\)")):
            open_inbox(str(target)).check()
    open_inbox(str(tmp_path)).check()
    open_inbox(str(tmp_path / "new" / "inbox")).check()  # uploads create it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # created nothing, no probe
