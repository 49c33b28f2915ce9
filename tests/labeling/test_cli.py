"""``roadmark ls-to-yolo`` and ``roadmark labelstudio`` as a user runs them."""

from __future__ import annotations

import json

import pytest
import yaml

from roadmark_pipeline.cli import main
from roadmark_pipeline.labeling.server import PID_FILE, free_port


def test_ls_to_yolo_r07(cases_dir, tmp_path, capsys) -> None:
    case = cases_dir / "R07"
    code = main(
        [
            "ls-to-yolo",
            str(case / "ls_export.json"),
            "--label-config",
            str(case / "label_config.xml"),
            str(tmp_path),
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["names"] == ["pedestrian", "car", "traffic_light", "bus"]
    assert yaml.safe_load((tmp_path / "data.yaml").read_text())["names"] == summary["names"]
    assert (tmp_path / "labels" / "drive02_f000100.txt").read_text().startswith("3 0.200000")


@pytest.mark.parametrize(
    ("export_text", "config_text", "message"),
    [
        (None, "<View/>", "no such file"),  # export file missing
        ("{not json", "<View/>", "not JSON"),
        ("[]", "<View><Image name='i' value='$image'/></View>", "no <RectangleLabels>"),
        (
            '{"tasks": []}',
            "<View><RectangleLabels name='l' toName='i'><Label value='a'/>"
            "</RectangleLabels></View>",
            "list of task objects",
        ),
    ],
)
def test_ls_to_yolo_bad_input_is_one_line_and_exit_2(
    tmp_path, capsys, export_text, config_text, message
) -> None:
    export, config = tmp_path / "export.json", tmp_path / "config.xml"
    if export_text is not None:
        export.write_text(export_text)
    config.write_text(config_text)
    code = main(["ls-to-yolo", str(export), "--label-config", str(config), str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert message in err[-1]
    assert not (tmp_path / "out" / "labels").exists()


def test_labelstudio_status_when_nothing_runs(tmp_path, capsys) -> None:
    code = main(["labelstudio", "status", "--data-dir", str(tmp_path)])
    assert code == 3
    assert json.loads(capsys.readouterr().out)["running"] is False


@pytest.mark.integration
@pytest.mark.slow
def test_labelstudio_start_reuses_and_status_reports(ls_server, ls_document_root, capsys) -> None:
    code = main(
        [
            "labelstudio",
            "start",
            "--data-dir",
            str(ls_server.data_dir),
            "--document-root",
            str(ls_document_root),
        ]
    )
    started = json.loads(capsys.readouterr().out)
    assert code == 0
    assert started["url"] == ls_server.url and started["pid"] == ls_server.pid
    code = main(["labelstudio", "status", "--data-dir", str(ls_server.data_dir)])
    status = json.loads(capsys.readouterr().out)
    assert code == 0 and status["running"] is True and status["url"] == ls_server.url


def _one_line_error(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert captured.out == "" and len(lines) == 1, captured.err
    assert lines[0].startswith("roadmark labelstudio: ")
    return lines[0]


@pytest.mark.integration
@pytest.mark.slow
def test_reuse_reports_the_settings_the_server_runs_with(
    ls_server, ls_document_root, tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("ROADMARK_HOME", str(tmp_path / "home"))

    code = main(["labelstudio", "start", "--data-dir", str(ls_server.data_dir)])

    started = json.loads(capsys.readouterr().out)
    assert code == 0
    assert started["document_root"] == str(ls_document_root.resolve())
    assert (started["port"], started["pid"]) == (ls_server.port, ls_server.pid)
    assert not (tmp_path / "home").exists()  # the default lake root is neither made nor shown
    assert main(["labelstudio", "status", "--data-dir", str(ls_server.data_dir)]) == 0
    assert json.loads(capsys.readouterr().out)["document_root"] == started["document_root"]


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("option", ["--port", "--document-root"])
def test_reuse_with_other_settings_is_refused(ls_server, tmp_path, capsys, option) -> None:
    value = str(free_port()) if option == "--port" else str(tmp_path)

    code = main(["labelstudio", "start", "--data-dir", str(ls_server.data_dir), option, value])

    line = _one_line_error(capsys)
    assert code == 2
    assert value in line and ls_server.url in line
    assert "roadmark labelstudio stop" in line
    assert ls_server.is_running()


@pytest.mark.integration
@pytest.mark.slow
def test_a_pid_file_without_the_document_root_reads_it_from_the_process(
    ls_server, ls_document_root, tmp_path, capsys
) -> None:
    pid_file = ls_server.data_dir / PID_FILE
    saved = pid_file.read_text()
    older = {k: v for k, v in json.loads(saved).items() if k != "document_root"}
    try:
        pid_file.write_text(json.dumps(older))
        assert main(["labelstudio", "status", "--data-dir", str(ls_server.data_dir)]) == 0
        status = json.loads(capsys.readouterr().out)
        assert status["document_root"] == str(ls_document_root.resolve())
        args = ["--data-dir", str(ls_server.data_dir), "--document-root", str(tmp_path)]
        assert main(["labelstudio", "start", *args]) == 2
        assert str(ls_document_root.resolve()) in _one_line_error(capsys)
    finally:
        pid_file.write_text(saved)
