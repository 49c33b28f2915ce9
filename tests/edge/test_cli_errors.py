"""``roadmark-edge`` errors a new operator meets before any device exists: each one is a single
line on stderr naming the input and the fix, a non-zero exit, no traceback, and nothing left on
disk. Run through the installed console script, as an operator runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from roadmark_pipeline.release.tuf_repo import TufRepository

SCRIPT = Path(sys.executable).parent / "roadmark-edge"
REPO = "http://127.0.0.1:9"  # never contacted: every case below fails before any request


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str

    @property
    def error_line(self) -> str:
        lines = self.stderr.strip().splitlines()
        assert len(lines) == 1, self.stderr
        assert "Traceback" not in self.stderr
        return lines[0]


def edge(*args: str | Path) -> Done:
    command = [str(SCRIPT)] if SCRIPT.is_file() else [sys.executable, "-m", "jetson_runtime.cli"]
    done = subprocess.run([*command, *map(str, args)], capture_output=True, text=True, timeout=120)
    return Done(done.returncode, done.stdout, done.stderr)


def _root_variant(tmp_path: Path, kind: str) -> Path:
    """A --trusted-root file of one bad kind."""
    path = tmp_path / f"{kind}.json"
    if kind == "video_named_mp4":
        path = tmp_path / "text.mp4"
        path.write_text("not a root at all\n")
    elif kind == "empty_json":
        path.write_text("{}")
    elif kind in ("timestamp", "tampered", "expired"):
        expiry = {"root": timedelta(seconds=-5)} if kind == "expired" else None
        repo = TufRepository(tmp_path / "repo", tmp_path / "keys", expiry=expiry)
        repo.initialise()
        if kind == "timestamp":
            return repo.metadata_dir / "timestamp.json"
        data = json.loads(repo.trusted_root_path.read_text())
        if kind == "tampered":
            data["signed"]["version"] = 7  # the signature no longer matches
        path.write_text(json.dumps(data))
    elif kind == "folder":
        path.mkdir()
    elif kind == "huge":
        path.write_bytes(b" " * (2 << 20))
    return path


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("video_named_mp4", "not JSON"),  # the tester's `--trusted-root text.mp4`
        ("missing", "No such file"),
        ("folder", "cannot read it"),
        ("empty_json", "not TUF metadata"),
        ("timestamp", "TUF timestamp metadata, not root"),  # the wrong file of the repository
        ("tampered", "not signed by its own root keys"),
        ("expired", "expired on"),
        ("huge", "far larger than root metadata"),
    ],
)
def test_a_bad_trusted_root_is_refused_and_nothing_is_stored(
    kind: str, words: str, tmp_path: Path
) -> None:
    root = _root_variant(tmp_path, kind)
    device = tmp_path / "device"

    done = edge("update", "--repo", REPO, "--device-dir", device, "--trusted-root", root)

    assert done.returncode == 3
    line = done.error_line
    assert f"--trusted-root {root}" in line and words in line and "root.json" in line
    assert json.loads(done.stdout)["reason"] == "bad_root"
    assert not device.exists()  # no tuf/, no lock file, no folder


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--log-level", "foo", "status"], 2, "argument --log-level: invalid choice: 'FOO'"),
        (["status"], 4, "holds no device; set one up with 'roadmark-edge update"),
        (["status", "--json"], 4, "holds no device"),
        (["run", "--source", "clip.mp4"], 4, "holds no device"),
        (["update", "--repo", REPO], 3, "no trusted root; pass --trusted-root FILE"),
        (["update", "--repo", "ftp://example"], 2, "is not an http:// or https:// URL"),
        (["update", "--repo", REPO, "--reprovision"], 2, "--reprovision: needs --trusted-root"),
    ],
)
def test_errors_without_a_device_create_nothing(
    args: list[str], code: int, words: str, tmp_path: Path
) -> None:
    device = tmp_path / "no-device"
    position = args.index("status") if "status" in args else 0  # the sub-command
    command = [*args[: position + 1], "--device-dir", str(device), *args[position + 1 :]]

    done = edge(*command)

    assert done.returncode == code
    assert words in done.error_line
    assert not device.exists()


def test_a_file_given_as_device_folder(tmp_path: Path) -> None:
    afile = tmp_path / "device.txt"
    afile.write_text("x")
    for command in (["status"], ["run", "--source", "x.mp4"], ["update", "--repo", REPO]):
        done = edge(*command, "--device-dir", afile)
        assert done.returncode == 2
        assert "a file, not a folder; pass the device folder" in done.error_line
    assert afile.read_text() == "x"


def test_help_lists_only_the_public_commands() -> None:
    done = edge("--help")
    assert done.returncode == 0
    listed = [line.split()[0] for line in done.stdout.splitlines() if line.startswith("    ")]
    assert "SUPPRESS" not in done.stdout and "{update,run,status}" in done.stdout
    assert {"update", "run", "status"} <= set(listed) and "health" not in listed


def test_an_unexpected_error_is_one_line_and_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # No real input reaches this net; a failing status command stands in for a bug.
    from jetson_runtime import cli

    def broken(args) -> int:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(cli, "_cmd_status", broken)
    for name in ("OPENCV_FFMPEG_LOGLEVEL", "OPENCV_LOG_LEVEL"):  # main() sets them
        monkeypatch.delenv(name, raising=False)  # as they were, after the test
    assert cli.main(["status", "--device-dir", str(tmp_path)]) == 1
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors == [
        "unexpected RuntimeError: disk on fire; rerun with --log-level DEBUG for the traceback "
        "and report it"
    ]


@pytest.fixture
def valid_root(tmp_path: Path) -> Path:
    """The trusted root of a fresh TUF repository (that no server serves)."""
    repo = TufRepository(tmp_path / "repo", tmp_path / "keys")
    repo.initialise()
    return repo.trusted_root_path


def test_a_failed_first_update_removes_the_folders_it_created(
    valid_root: Path, tmp_path: Path
) -> None:
    base = tmp_path / "x"  # x/, x/a/, x/a/b/ and x/a/b/dev/ are all made by the command
    device = base / "a" / "b" / "dev"
    unreachable = "http://127.0.0.1:1"

    done = edge(
        "update", "--repo", unreachable, "--device-dir", device, "--trusted-root", valid_root
    )

    assert done.returncode == 3
    assert json.loads(done.stdout)["reason"] == "unreachable"
    assert "[unreachable]" in done.error_line and unreachable in done.error_line
    assert not base.exists()
    assert tmp_path.is_dir()


def test_a_failed_first_update_keeps_the_folders_that_were_there(
    valid_root: Path, tmp_path: Path
) -> None:
    kept = tmp_path / "x" / "a"
    kept.mkdir(parents=True)
    device = kept / "b" / "dev"

    done = edge(
        "update",
        "--repo",
        "http://127.0.0.1:1",
        "--device-dir",
        device,
        "--trusted-root",
        valid_root,
    )

    assert done.returncode == 3
    assert kept.is_dir() and list(kept.iterdir()) == []  # kept, and b/ is gone from it


def test_a_failed_health_check_removes_the_folders_it_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A TensorRT host makes engine_cache/<key>/ while it opens the model; the model then fails.
    from jetson_runtime import cli, detector
    from jetson_runtime.session import SessionError

    def failing_open(bundle, cache_root: Path, **_) -> None:
        (cache_root / "sm87-trt10-abc").mkdir(parents=True)
        raise SessionError("model.onnx: does not load; rebuild the release")

    monkeypatch.setattr(cli, "load_bundle", lambda path: object())
    monkeypatch.setattr(detector.Detector, "open", staticmethod(failing_open))
    for name in ("OPENCV_FFMPEG_LOGLEVEL", "OPENCV_LOG_LEVEL"):  # main() sets them
        monkeypatch.delenv(name, raising=False)
    device = tmp_path / "new" / "dev"

    code = cli.main(["health", "--bundle", str(tmp_path / "bundle"), "--device-dir", str(device)])

    assert code == 4
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["status", "--device-dir", ""], "--device-dir is empty"),
        (["status", "--device-dir="], "--device-dir is empty"),
        (["run", "--device-dir", "{tmp}/dev", "--source", "  "], "--source is empty"),
    ],
)
def test_an_empty_argument_is_refused_not_read_as_this_folder(
    tmp_path: Path, args: list[str], named: str
) -> None:
    done = edge(*(arg.format(tmp=tmp_path) for arg in args))

    assert done.returncode == 2
    assert named in done.error_line
    assert list(tmp_path.iterdir()) == []  # no device folder made for a refused command
