"""The whole asset graph once more, with the lake in an S3-protocol bucket (moto's server).

Same code, same trimmed real clips and the real Label Studio server; only ``ROADMARK_LAKE``
points at ``s3://``. Every artifact the graph makes must be in the bucket afterwards.
"""

from __future__ import annotations

import pytest
from upath import UPath

from roadmark_pipeline import lake as lake_io
from roadmark_pipeline import lake_mirror
from roadmark_pipeline.localserve import free_port
from tests.pipeline.test_whole_graph import small_demo_options
from tests.s3server import apply_env, make_bucket, moto_s3

LAKE = "s3://roadmark-fleet/lake"


@pytest.fixture()
def s3_demo_env(tmp_path, monkeypatch):
    with moto_s3(tmp_path) as env:
        make_bucket(env, "roadmark-fleet")
        apply_env(monkeypatch, env)
        monkeypatch.setenv("ROADMARK_LAKE", LAKE)
        monkeypatch.setenv("ROADMARK_HOME", str(tmp_path / "home"))
        monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home" / "dagster"))
        monkeypatch.setenv("ROADMARK_LS_PORT", str(free_port()))
        try:
            yield tmp_path
        finally:
            from roadmark_pipeline.labeling.server import LabelStudioServer

            LabelStudioServer(tmp_path / "home" / "labelstudio").stop()


@pytest.mark.integration
@pytest.mark.slow
def test_whole_graph_with_the_lake_in_a_bucket(s3_demo_env):
    from roadmark_pipeline.demo import run_demo

    summary = run_demo(small_demo_options(s3_demo_env / "data"))

    assert summary.new_sources == 5
    assert summary.parity["passed"] is True
    assert summary.release["new"] is True
    assert summary.drift["n_current"] > 0 and summary.drift["flagged"] is True

    stored = set(lake_mirror.remote_files(UPath(LAKE)))
    model = summary.evaluation["model_id"]
    version = summary.release["version"]
    tables = {key.split("/")[1].split(".")[0] for key in stored if key.startswith("tables/")}
    assert {
        "raw_videos",
        "sampled_frames",
        "labeling_tasks",
        "annotations",
        "consensus_labels",
        "label_issues",
        "dataset_version",
        "trained_detector",
        "detector_evaluation",
        "onnx_model",
        "ota_release",
        "drift_reference",
        "fleet_telemetry",
        "drift_report",
    } <= tables
    manifests = [key for key in stored if key.startswith("tables/sampled_frames/")]
    sampled = sum(len(lake_io.read_parquet(UPath(LAKE, key))) for key in manifests)
    assert len(manifests) == 5 and sampled > 0
    assert sum(key.startswith("frames/") and key.endswith(".jpg") for key in stored) == sampled
    assert sum(key.startswith("raw/") for key in stored) >= 5
    assert any(key.startswith(f"models/{model}/") and key.endswith(".onnx") for key in stored)
    assert any(key.startswith(f"models/{model}/evaluation/") for key in stored)
    assert any(key.startswith("datasets/") and key.endswith("data.yaml") for key in stored)
    assert any(key.startswith("releases/") and key.endswith("manifest.json") for key in stored)
    assert any(version in key for key in stored if key.startswith("tuf/repository/targets/"))
    assert "tuf/repository/metadata/timestamp.json" in stored
    assert any(key.startswith("registry/") for key in stored)
    assert any(key.startswith("fleet/inbox/") for key in stored)
    assert any(key.startswith("reports/drift/") and key.endswith(".html") for key in stored)
