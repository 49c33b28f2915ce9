"""``roadmark ls-to-yolo`` and ``roadmark labelstudio`` as a user runs them."""

from __future__ import annotations

import json

import pytest
import yaml

from roadmark_pipeline.cli import main


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
