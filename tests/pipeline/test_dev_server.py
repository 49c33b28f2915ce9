"""`make dev` serves our code location: the asset graph over GraphQL on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request

import pytest

from roadmark_pipeline.localserve import free_port
from tests.conftest import ROOT

QUERY = "{ assetNodes { assetKey { path } } }"
EXPECTED_ASSETS = {
    "raw_videos",
    "sampled_frames",
    "labeling_tasks",
    "annotations",
    "label_issues",
    "dataset_version",
    "trained_detector",
    "detector_evaluation",
    "onnx_model",
    "ota_release",
    "fleet_telemetry",
    "drift_report",
}


def graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.integration
@pytest.mark.slow
def test_make_dev_serves_the_asset_graph(tmp_path):
    port = free_port()
    env = os.environ | {"ROADMARK_HOME": str(tmp_path), "DAGSTER_HOME": str(tmp_path / "dg")}
    process = subprocess.Popen(
        ["make", "--no-print-directory", "dev", f"DEV_PORT={port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline, assets, last_error = time.monotonic() + 180, set(), None
        while time.monotonic() < deadline and not EXPECTED_ASSETS <= assets:
            time.sleep(2)
            assert process.poll() is None, process.stdout.read().decode()[-2000:]
            try:
                nodes = graphql(port, QUERY)["data"]["assetNodes"]
                assets = {"/".join(node["assetKey"]["path"]) for node in nodes}
            except (OSError, KeyError, TypeError) as error:
                last_error = error
        assert EXPECTED_ASSETS <= assets, f"served {sorted(assets)}; last error {last_error}"
        assert (tmp_path / "dg" / "dagster.yaml").exists()  # the instance config was put in place
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # our own child's process group, by its PID
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
