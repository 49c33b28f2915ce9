"""The lake on an S3-protocol server: mirror sync, IO managers and ingest on real clips."""

from __future__ import annotations

import json
import time

import dagster as dg
import pandas as pd
import pytest
import s3fs
from upath import UPath

from assets.ingest import frames_anonymised, raw_videos, sampled_frames
from assets.partitions import SOURCES
from assets.resources import JsonIOManager, LakeResource, ParquetIOManager
from roadmark_pipeline import lake as lake_io
from roadmark_pipeline import lake_mirror, sources
from roadmark_pipeline.ids import sha256_file
from tests.conftest import DATA
from tests.s3server import apply_env, make_bucket, moto_s3

BUCKET = "roadmark-lake"


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    with moto_s3(tmp_path_factory.mktemp("moto")) as env:
        make_bucket(env, BUCKET)
        yield env


@pytest.fixture()
def s3_lake(s3_server, monkeypatch, tmp_path, request):
    apply_env(monkeypatch, s3_server)
    monkeypatch.setenv("ROADMARK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ROADMARK_LAKE_MIRROR", raising=False)
    return f"s3://{BUCKET}/{request.node.name}"


def objects(root: str) -> dict[str, int]:
    """Every object under ``root``: relative key -> size."""
    return lake_mirror.remote_files(UPath(root))


def test_workspace_uploads_what_the_block_wrote_and_nothing_on_failure(s3_lake):
    lake = LakeResource(root=s3_lake)
    with lake.workspace("models", "m1") as folder:
        (folder / "weights.pt").write_bytes(b"w" * 100)
        (folder / "evaluation").mkdir()
        (folder / "evaluation" / "report.md").write_text("# report\n")
    assert objects(s3_lake) == {"models/m1/weights.pt": 100, "models/m1/evaluation/report.md": 9}

    with pytest.raises(RuntimeError), lake.workspace("models", "m2") as folder:
        (folder / "half.pt").write_bytes(b"x")
        raise RuntimeError("the step failed")
    assert "models/m2/half.pt" not in objects(s3_lake)


def test_same_size_rewrite_is_uploaded_and_prune_removes_what_the_step_dropped(s3_lake):
    lake = LakeResource(root=s3_lake)
    with lake.workspace("frames", "p1", pull=False, prune=True) as folder:
        (folder / "a.jpg").write_bytes(b"old")
        (folder / "b.jpg").write_bytes(b"bbb")
    time.sleep(2.1)  # past the tolerance the push gives coarse file-system clocks
    with lake.workspace("frames", "p1", pull=False, prune=True) as folder:
        (folder / "b.jpg").unlink()
        (folder / "a.jpg").write_bytes(b"new")

    assert objects(s3_lake) == {"frames/p1/a.jpg": 3}
    assert UPath(s3_lake, "frames/p1/a.jpg").read_bytes() == b"new"


def test_a_second_machine_mirrors_and_ensures_recorded_paths(s3_lake, tmp_path, monkeypatch):
    writer = LakeResource(root=s3_lake)
    with writer.workspace("datasets", "v1") as folder:
        (folder / "frames.parquet").write_bytes(b"p" * 10)
        (folder / "images").mkdir()
        (folder / "images" / "f.jpg").write_bytes(b"j" * 5)
    recorded = writer.local_path("datasets", "v1", "frames.parquet")

    # Another worker: same mirror setting, empty disk.
    monkeypatch.setenv("ROADMARK_LAKE_MIRROR", str(tmp_path / "other-worker"))
    reader = LakeResource(root=s3_lake)
    other = reader.local_path("datasets", "v1", "frames.parquet")
    assert not other.exists()
    assert reader.ensure(other).read_bytes() == b"p" * 10
    assert reader.mirror("datasets").joinpath("v1", "images", "f.jpg").read_bytes() == b"j" * 5
    assert recorded != other  # mirrors are per machine setting, under the lake's own URL path


def test_io_managers_store_tables_in_the_bucket(s3_lake):
    table = pd.DataFrame({"frame_id": ["a/1", "a/2"], "brightness": [0.25, 0.5]})

    @dg.asset(io_manager_key="parquet_io_manager")
    def frames_table() -> pd.DataFrame:
        return table

    @dg.asset(io_manager_key="json_io_manager")
    def frames_summary(frames_table: pd.DataFrame) -> dict:
        return {"frames": len(frames_table)}

    result = dg.materialize(
        [frames_table, frames_summary],
        resources={
            "parquet_io_manager": ParquetIOManager(root=s3_lake),
            "json_io_manager": JsonIOManager(root=s3_lake),
        },
    )

    assert result.success
    stored = objects(s3_lake)
    assert set(stored) == {"tables/frames_table.parquet", "tables/frames_summary.json"}
    pd.testing.assert_frame_equal(
        pd.read_parquet(UPath(s3_lake, "tables/frames_table.parquet").open("rb")), table
    )


@pytest.mark.integration
def test_ingest_of_a_real_clip_lands_everything_in_the_bucket(s3_lake, tmp_path):
    clip = DATA / "videos" / "test_video.mp4"
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / clip.name).write_bytes(clip.read_bytes())
    lake = LakeResource(root=s3_lake)
    sha = sha256_file(clip)
    key = sources.source_key(sha)
    sources.register(
        lake.path(),
        sources.SourceRecord(key, sha, str(landing / clip.name), clip.stat().st_size, time.time()),
    )

    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(SOURCES, [key])
        result = dg.materialize(
            [raw_videos, sampled_frames, frames_anonymised],
            partition_key=key,
            instance=instance,
            resources={
                "lake": lake,
                "parquet_io_manager": ParquetIOManager(root=s3_lake),
            },
            run_config={"ops": {"sampled_frames": {"config": {"every_n": 50}}}},
        )

    assert result.success
    manifest = result.output_for_node("sampled_frames")
    stored = objects(s3_lake)
    assert f"raw/{key}/{clip.name}" in stored
    assert f"tables/raw_videos/{key}.parquet" in stored
    assert f"tables/sampled_frames/{key}.parquet" in stored
    jpegs = {k for k in stored if k.startswith(f"frames/{key}/") and k.endswith(".jpg")}
    assert len(jpegs) == len(manifest) > 0
    checks = result.get_asset_check_evaluations()
    assert [c.check_name for c in checks] == ["frames_anonymised"] and checks[0].passed


def test_lake_move_copies_a_local_lake_and_reroots_recorded_paths(s3_lake, tmp_path):
    from roadmark_pipeline.cli import main

    old = tmp_path / "old-lake"
    frame = old / "frames" / "p1" / "000000.jpg"
    frame.parent.mkdir(parents=True)
    frame.write_bytes(b"\xff\xd8\xff jpeg")
    (old / "tables").mkdir()
    record = {"weights": str(old / "models" / "m1" / "best.pt"), "epochs": 3}
    (old / "tables" / "trained_detector.json").write_text(json.dumps(record))
    manifest = pd.DataFrame({"frame_id": ["p1/0"], "path": [str(frame)], "blur": [1.5]})
    manifest.to_parquet(old / "tables" / "sampled_frames.parquet", index=False)
    before = (old / "tables" / "trained_detector.json").read_text()

    assert main(["lake", "move", str(old), s3_lake]) == 0

    stored = objects(s3_lake)
    assert set(stored) == {
        "frames/p1/000000.jpg",
        "tables/trained_detector.json",
        "tables/sampled_frames.parquet",
    }
    lake = LakeResource(root=s3_lake)
    moved = json.loads(UPath(s3_lake, "tables/trained_detector.json").read_text())
    assert moved["weights"] == str(lake.local_path("models", "m1", "best.pt"))
    table = lake_io.read_parquet(UPath(s3_lake, "tables/sampled_frames.parquet"))
    assert lake.ensure(table["path"][0]).read_bytes() == b"\xff\xd8\xff jpeg"
    assert (old / "tables" / "trained_detector.json").read_text() == before  # source untouched

    assert main(["lake", "move", str(old), s3_lake]) == 0  # again: nothing new, nothing lost
    assert objects(s3_lake) == stored


@pytest.mark.parametrize(
    ("source", "target", "says"),
    [
        ("{tmp}", "{lake}", "not a lake folder (no tables/ inside)"),
        ("{tmp}/nope", "{lake}", "nope: no such folder"),
        ("{lake_dir}", "s3://roadmark-no-such-bucket/x", "bucket 'roadmark-no-such-bucket' does"),
        ("{lake_dir}", "{tmp}/elsewhere", "not an object-store URL"),
        ("{lake_dir}", "gs://bucket/x", "no driver for this protocol here"),
        ("{lake_dir}", "s3://bucket/x@unreachable", "cannot reach the store at http://127.0.0.1:"),
    ],
)
def test_lake_move_refusals_are_one_line(
    s3_server, s3_lake, tmp_path, monkeypatch, capsys, source, target, says
):
    from roadmark_pipeline.cli import main
    from roadmark_pipeline.localserve import free_port

    (tmp_path / "lake" / "tables").mkdir(parents=True)
    if target.endswith("@unreachable"):
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing there
        s3fs.S3FileSystem.clear_instance_cache()
        target = target.removesuffix("@unreachable")
    values = {"{tmp}": str(tmp_path), "{lake}": s3_lake, "{lake_dir}": str(tmp_path / "lake")}
    for key, value in values.items():
        source, target = source.replace(key, value), target.replace(key, value)

    assert main(["lake", "move", source, target]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err and "Traceback" not in err
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server["AWS_ENDPOINT_URL"])
    s3fs.S3FileSystem.clear_instance_cache()
    assert objects(s3_lake) == {}
