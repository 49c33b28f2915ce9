"""The labeling commands as a user runs them (real processes): every bad input is one line.

Each refusal is exit code 2, one line on stderr naming the input and the fix, no traceback and
nothing written; a task whose boxes cannot be converted is left out and reported, never
written as background.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import yaml

from roadmark_pipeline.labeling.config import label_config_xml

from .helpers import (
    BREAKAGES,
    annotation,
    broken_task,
    one_line_refusal,
    rect,
    roadmark,
    summary_of,
    task,
)


def test_r05_with_its_class_list(cases_dir, tmp_path) -> None:
    case = cases_dir / "R05"
    assert "0 0.350000 0.700000 0.300000 0.400000" in (case / "EXPECTED.txt").read_text()

    done = roadmark(
        "ls-to-yolo", case / "ls_export.json", "--label-config", case / "classes.txt", tmp_path
    )

    assert summary_of(done)["names"] == ["car"]
    text = (tmp_path / "labels" / "drive01_f000250.txt").read_text()
    assert text == "0 0.350000 0.700000 0.300000 0.400000\n"


def test_malformed_or_unsized_tasks_are_left_out_and_reported(tmp_path) -> None:
    export = tmp_path / "export.json"
    good = task(1, [annotation(10, [rect(10, 10, 20, 20, "a")])])
    broken = {100 + i: name for i, name in enumerate(sorted(BREAKAGES))}
    tasks = [good, *(broken_task(name, task_id) for task_id, name in broken.items())]
    export.write_text(json.dumps(tasks))
    config = tmp_path / "classes.txt"
    config.write_text("a\n")
    out = tmp_path / "out"

    done = roadmark("ls-to-yolo", export, "--label-config", config, out)

    summary = summary_of(done)
    assert (summary["images"], summary["background"]) == (1, 0)
    assert summary["left_out_unconvertible"] == len(BREAKAGES)
    assert sorted(summary["unconvertible"]) == sorted(str(task_id) for task_id in broken)
    assert "task 100" in done.stderr  # the warning on stderr names the first one
    assert sorted(p.name for p in (out / "labels").iterdir()) == ["t1.txt"]


def test_the_testers_export_with_a_zero_width(cases_dir, tmp_path) -> None:
    export = json.loads((cases_dir / "R05" / "ls_export.json").read_text())
    export[0]["annotations"][0]["result"][0]["original_width"] = 0
    (tmp_path / "w0.json").write_text(json.dumps(export))

    done = roadmark(
        "ls-to-yolo",
        tmp_path / "w0.json",
        "--label-config",
        cases_dir / "R05" / "classes.txt",
        tmp_path / "out",
    )

    summary = summary_of(done)
    assert (summary["images"], summary["background"], summary["left_out_unconvertible"]) == (
        0,
        0,
        1,
    )
    assert "original_width/original_height are 0/720" in summary["unconvertible"]["501"]
    assert list((tmp_path / "out" / "labels").iterdir()) == []


def test_images_are_linked_when_their_folder_is_given(cases_dir, tmp_path) -> None:
    import cv2
    import numpy as np

    images = tmp_path / "uploads"
    images.mkdir()
    cv2.imwrite(str(images / "drive01_f000250.jpg"), np.zeros((720, 1280, 3), np.uint8))
    case = cases_dir / "R05"
    out = tmp_path / "out"

    done = roadmark(
        "ls-to-yolo",
        case / "ls_export.json",
        "--label-config",
        case / "classes.txt",
        "--images",
        images,
        out,
    )

    assert summary_of(done)["images_written"] == 1
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert (Path(data["path"]) / data["train"] / "drive01_f000250.jpg").is_file()


def _write(path: Path, content: str | bytes | None) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    return path


@pytest.mark.parametrize(
    ("case", "says"),
    [
        ("export_missing", "no such file"),
        ("export_binary", "not UTF-8 text"),
        ("export_folder", "is a folder, not a file"),
        ("export_not_json", "not JSON"),
        ("export_not_tasks", "list of task objects"),
        ("task_id_text", "task #0 has id 'x'"),
        ("config_folder", "is a folder, not a file"),
        ("config_bad_xml", "not valid XML"),
        ("config_empty_list", "class list is empty"),
        ("config_repeats", "repeats"),
        ("out_is_file", "is a file, not a folder"),
        ("out_below_file", "is a file, so no folder can be made there"),
        ("images_missing", "no such folder"),
    ],
)
def test_bad_inputs_are_one_line_and_write_nothing(tmp_path, case: str, says: str) -> None:
    good_export = json.dumps([task(1, [annotation(1, [rect(1, 1, 5, 5, "a")])])])
    export = _write(
        tmp_path / "export.json",
        {
            "export_missing": None,
            "export_binary": b"\xff\xfe\x00binary",
            "export_not_json": "{not json",
            "export_not_tasks": '{"tasks": []}',
            "task_id_text": '[{"id": "x", "data": {}}]',
        }.get(case, good_export),
    )
    if case == "export_folder":
        export = tmp_path / "a_folder"
        export.mkdir()
    config = _write(
        tmp_path / "config.txt",
        {
            "config_bad_xml": "<View><RectangleLabels>",
            "config_empty_list": "\n\n",
            "config_repeats": "a\nb\na\n",
        }.get(case, label_config_xml(["a"])),
    )
    if case == "config_folder":
        config = tmp_path
    out = tmp_path / "out"
    if case == "out_is_file":
        out.write_text("keep me")
    blocker = _write(tmp_path / "blocker", "keep me")
    if case == "out_below_file":
        out = blocker / "out"
    extra = ["--images", tmp_path / "no-such-images"] if case == "images_missing" else []
    before = sorted(p.name for p in tmp_path.iterdir())

    done = roadmark("ls-to-yolo", export, "--label-config", config, *extra, out)

    assert one_line_refusal(done, says).startswith("roadmark ls-to-yolo: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    if case == "out_is_file":
        assert out.read_text() == "keep me"


@pytest.mark.parametrize(
    "args",
    [
        ["labelstudio", "start", "--port", "0"],
        ["labelstudio", "start", "--port", "http"],
        ["labelstudio", "start", "--port", "70000"],
        ["labelstudio", "restart"],
        ["ls-simulate", "WORK", "--annotators", "0"],
        ["ls-simulate", "WORK", "--share", "1.5"],
        ["ls-simulate", "WORK", "--drop", "nan"],
        ["ls-simulate", "WORK", "--review", "-1"],
        ["ls-to-yolo", "export.json", "out"],
    ],
)
def test_bad_option_values_are_one_line_naming_the_option(tmp_path, args: list[str]) -> None:
    args = [str(tmp_path / "work") if a == "WORK" else a for a in args]

    done = roadmark(*args)

    line = one_line_refusal(done, f"roadmark {args[0]}")
    option = next((a for a in args if a.startswith("--")), None)
    assert option is None or option in line
    assert not (tmp_path / "work").exists()


def test_ls_simulate_without_the_shipped_labels_starts_nothing(tmp_path) -> None:
    done = roadmark("ls-simulate", tmp_path / "work", "--data-dir", tmp_path)

    assert one_line_refusal(done, tmp_path, "--data-dir").startswith("roadmark ls-simulate: ")
    assert not (tmp_path / "work").exists()


def test_help_texts_show_no_rst_backticks() -> None:
    for command in ("ls-to-yolo", "labelstudio", "ls-simulate", "probe", "sample"):
        done = roadmark(command, "--help")
        assert done.returncode == 0
        assert "``" not in done.stdout, f"roadmark {command} --help:\n{done.stdout}"


@pytest.fixture()
def busy_port():
    """A port held by a listening socket of ours on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        yield holder.getsockname()[1]


@pytest.mark.integration
@pytest.mark.parametrize("data_dir_before", ["none", "empty", "with_token", "default_root"])
def test_failed_start_leaves_nothing_behind(
    tmp_path, busy_port, monkeypatch, data_dir_before: str
) -> None:
    data_dir, root = tmp_path / "ls" / "data", tmp_path / "lake"
    if data_dir_before not in ("none", "default_root"):
        data_dir.mkdir(parents=True)
    if data_dir_before == "with_token":
        (data_dir / "api_token").write_text("kept-token-123456\n")
    if data_dir_before == "default_root":  # the lake root under ROADMARK_HOME is made, then not
        monkeypatch.setenv("ROADMARK_HOME", str(tmp_path / "home"))
    else:
        root.mkdir()
    before = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    options = [] if data_dir_before == "default_root" else ["--document-root", root]

    done = roadmark("labelstudio", "start", "--port", busy_port, "--data-dir", data_dir, *options)

    line = one_line_refusal(done, f"port {busy_port}", "is taken")
    assert line.startswith("roadmark labelstudio: ")
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == before
    if data_dir_before == "with_token":
        assert (data_dir / "api_token").read_text() == "kept-token-123456\n"
