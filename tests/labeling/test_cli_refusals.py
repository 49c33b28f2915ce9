"""What ``ls-to-yolo`` and ``labelstudio start`` refuse rather than half-do (real processes).

A labelled image must never be written as background, a folder holding other files must never
be emptied, and a folder the user named must never be made up.
"""

from __future__ import annotations

import json
from pathlib import Path

from .helpers import annotation, one_line_refusal, rect, roadmark, summary_of, task


def _export(path: Path, tasks: list[dict]) -> Path:
    path.write_text(json.dumps(tasks))
    return path


def _classes(path: Path, *names: str) -> Path:
    path.write_text("".join(f"{name}\n" for name in names))
    return path


def _tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_export_and_config_without_a_common_label_are_refused(cases_dir, tmp_path) -> None:
    export, classes = cases_dir / "R07" / "ls_export.json", cases_dir / "R05" / "classes.txt"

    done = roadmark("ls-to-yolo", export, "--label-config", classes, tmp_path / "out")

    line = one_line_refusal(done, export, classes, "'bus'", "'pedestrian'", "'car'")
    assert line.startswith("roadmark ls-to-yolo: ")
    assert not (tmp_path / "out").exists()


def test_a_task_whose_boxes_all_have_unknown_labels_is_not_background(tmp_path) -> None:
    export = _export(
        tmp_path / "export.json",
        [
            task(1, [annotation(10, [rect(10, 10, 20, 20, "a")])]),
            task(2, [annotation(20, [rect(10, 10, 20, 20, "zzz"), rect(5, 5, 9, 9, "yyy")])]),
            task(3, [annotation(30, [])]),  # looked at, nothing there: background
            task(4, [annotation(40, [rect(10, 10, 20, 20, "a"), rect(50, 50, 9, 9, "zzz")])]),
        ],
    )
    out = tmp_path / "out"

    done = roadmark("ls-to-yolo", export, "--label-config", _classes(tmp_path / "c.txt", "a"), out)

    summary = summary_of(done)
    assert (summary["images"], summary["boxes"], summary["background"]) == (3, 2, 1)
    assert summary["left_out_unconvertible"] == 1
    assert "unknown_label" in summary["unconvertible"]["2"]
    assert summary["left_out_by_reason"] == {"unknown_label": 1}
    assert sorted(p.name for p in (out / "labels").iterdir()) == ["t1.txt", "t3.txt", "t4.txt"]
    assert "task 2" in done.stderr


def test_an_export_without_tasks_is_refused(tmp_path) -> None:
    export = _export(tmp_path / "export.json", [])

    done = roadmark(
        "ls-to-yolo", export, "--label-config", _classes(tmp_path / "c", "a"), tmp_path / "o"
    )

    one_line_refusal(done, export, "the export holds no tasks", "export again")
    assert not (tmp_path / "o").exists()


def _previous_output(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Export, class list and an OUT_DIR holding a previous ls-to-yolo output of them."""
    export = _export(
        tmp_path / "export.json",
        [task(1, [annotation(10, [rect(10, 10, 20, 20, "a")])]), task(2, [annotation(20, [])])],
    )
    classes, out = _classes(tmp_path / "classes.txt", "a"), tmp_path / "out"
    summary_of(roadmark("ls-to-yolo", export, "--label-config", classes, out))
    (out / "images").mkdir()
    (out / "images" / "t1.jpg").write_bytes(b"jpeg")  # placed as images.csv says
    return export, classes, out


def test_a_previous_output_is_replaced(tmp_path) -> None:
    export, classes, out = _previous_output(tmp_path)
    _export(export, [task(1, [annotation(11, [rect(10, 10, 20, 20, "a"), rect(1, 1, 2, 2, "a")])])])

    summary = summary_of(roadmark("ls-to-yolo", export, "--label-config", classes, out))

    assert summary["boxes"] == 2
    assert sorted(p.name for p in (out / "labels").iterdir()) == ["t1.txt"]


def test_an_empty_out_dir_is_used(tmp_path) -> None:
    export, classes, _ = _previous_output(tmp_path)
    (tmp_path / "empty").mkdir()

    summary_of(roadmark("ls-to-yolo", export, "--label-config", classes, tmp_path / "empty"))


def test_an_out_dir_with_other_files_is_refused_and_kept(tmp_path) -> None:
    export, classes, out = _previous_output(tmp_path)
    for extra in ("labels/old_unrelated.txt", "images/other.jpg", "notes.md"):
        (out / extra).write_text("keep me")
        before = _tree(out)

        done = roadmark("ls-to-yolo", export, "--label-config", classes, out)

        line = one_line_refusal(done, out, Path(extra).name, "pass a new or empty folder")
        assert line.startswith("roadmark ls-to-yolo: ")
        assert _tree(out) == before
        (out / extra).unlink()


def test_a_folder_that_is_no_output_of_ours_is_refused(tmp_path) -> None:
    export, classes, _ = _previous_output(tmp_path)
    out = tmp_path / "mine"
    (out / "labels").mkdir(parents=True)
    (out / "labels" / "t1.txt").write_text("0 0.5 0.5 0.1 0.1\n")  # no data.yaml: not ours

    done = roadmark("ls-to-yolo", export, "--label-config", classes, out)

    one_line_refusal(done, out, "labels")
    assert (out / "labels" / "t1.txt").read_text() == "0 0.5 0.5 0.1 0.1\n"


def test_a_document_root_that_does_not_exist_is_refused(tmp_path) -> None:
    from roadmark_pipeline.labeling.server import LabelStudioServer

    root, data = tmp_path / "nope", tmp_path / "ls-data"

    try:
        done = roadmark("labelstudio", "start", "--document-root", root, "--data-dir", data)
    finally:
        if data.exists():  # a regression must not leave a server running after the test
            LabelStudioServer(data).stop()

    line = one_line_refusal(done, root, "--document-root", "no such folder")
    assert line.startswith("roadmark labelstudio: ")
    assert list(tmp_path.iterdir()) == []
