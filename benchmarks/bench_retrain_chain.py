"""The orchestrated retrain-and-release chain against the same library calls as a plain script.

Both sides do the same work on the same inputs: split and write the dataset, the overfit check
(its verdict is cached on both sides alike), train (reuse off, so each run really trains),
predict and report on the test drives, gate, export ONNX (reuse off), check parity, publish the
release and compute the drift reference from it. The Dagster side is ``retrain_release_job``
executed in-process against a real SQLite instance (events, IO managers, checks); the plain
side calls the library functions in a row. Runs alternate (dagster, plain, dagster, ...) and
the medians are compared. Goal: orchestrated / plain <= 1.10.

The inputs come from a demo run with tiny settings into a scratch ROADMARK_HOME (made once):

    .venv/bin/python benchmarks/bench_retrain_chain.py [--repeats 3] [--epochs 3] [--imgsz 160]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def prepare(home: Path, epochs: int, imgsz: int) -> None:
    """Fill a scratch home with ingested, labelled frames (a tiny demo run), once."""
    os.environ["ROADMARK_HOME"] = str(home)
    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    os.environ.setdefault("ROADMARK_LS_PORT", "18191")
    if (home / "prepared").exists():
        return
    from roadmark_pipeline.demo import DemoOptions, run_demo

    run_demo(
        DemoOptions(
            epochs=epochs,
            imgsz=imgsz,
            fold_epochs=1,
            fold_imgsz=160,
            edge_every_n=10,
            drift_min_samples=5,
        )
    )
    (home / "prepared").touch()


def settings(epochs: int, imgsz: int) -> dict:
    from roadmark_pipeline.demo import DemoOptions
    from roadmark_pipeline.demo_steps import demo_training

    return demo_training(DemoOptions(epochs=epochs, imgsz=imgsz)) | {"reuse": False}


def orchestrated(epochs: int, imgsz: int) -> float:
    """One ``retrain_release_job`` run, in-process, against the instance."""
    import dagster as dg

    from roadmark_pipeline.definitions import defs

    config = {
        "ops": {
            "trained_detector": {"config": settings(epochs, imgsz)},
            "onnx_model": {"config": {"reuse": False}},
        },
        "loggers": {"console": {"config": {"log_level": "WARNING"}}},
    }
    started = time.perf_counter()
    result = defs.resolve_job_def("retrain_release_job").execute_in_process(
        instance=dg.DagsterInstance.get(), run_config=config
    )
    assert result.success
    return time.perf_counter() - started


def plain(epochs: int, imgsz: int) -> float:
    """The same chain as plain library calls, reading the same lake tables."""
    from assets.resources import LakeResource
    from assets.settings import TrainSettings
    from roadmark_pipeline import lake as lake_io
    from roadmark_pipeline.frames import concat_partitions, labelled_frames
    from roadmark_pipeline.model.dataset import SplitConfig, split_frames, write_yolo_dataset
    from roadmark_pipeline.model.export import export_onnx, onnx_parity
    from roadmark_pipeline.model.predict import predict_frames
    from roadmark_pipeline.model.registry import ModelRegistry
    from roadmark_pipeline.model.report import build_report
    from roadmark_pipeline.model_flow import gate_candidate, overfit_or_reuse, train_or_reuse
    from roadmark_pipeline.monitoring.drift import reference_from_training
    from roadmark_pipeline.release_flow import ReleaseRequest, publish_release, release_predictions
    from roadmark_pipeline.settings import roadmark_home
    from roadmark_pipeline.taxonomy import class_names

    lake = LakeResource()
    tables = lake.local_path("tables")
    started = time.perf_counter()

    sampled = {
        p.stem: lake_io.read_parquet(p) for p in (tables / "sampled_frames").glob("*.parquet")
    }
    boxes = lake_io.read_parquet(tables / "consensus_labels.parquet")
    tasks = lake_io.read_parquet(tables / "annotation_tasks.parquet")
    agreement = lake_io.read_parquet(tables / "frame_agreement.parquet")
    frames = labelled_frames(concat_partitions(sampled), tasks)
    split = split_frames(
        frames, boxes, class_names(), SplitConfig(stratify_columns=("camera_model",))
    )
    frames = frames.assign(split=frames["frame_id"].map(split.assignment))
    info = write_yolo_dataset(
        frames,
        boxes,
        split.assignment,
        class_names(),
        lake.local_path("datasets"),
        warnings=split.warnings,
    )
    for name, table in (("frames", frames), ("boxes", boxes)):  # as the dataset record does
        lake_io.write_parquet_atomic(info.root / f"plain-{name}.parquet", table)
    assert overfit_or_reuse(
        frames, boxes, lake.local_path("work", "overfit"), n_frames=8, target=0.9
    ).passed

    config = TrainSettings(**{k: v for k, v in settings(epochs, imgsz).items() if k != "reuse"})
    record, _ = train_or_reuse(
        info.data_yaml,
        info.version,
        config.to_train_config(),
        lake.local_path("models"),
        reuse=False,
    )
    test = frames[frames["split"] == "test"]
    truth = boxes[boxes["frame_id"].isin(test["frame_id"])]
    predictions = predict_frames(Path(record["weights"]), test, imgsz=imgsz)
    report = build_report(
        truth,
        predictions,
        test,
        class_names(),
        out_dir=lake.local_path("models", record["model_id"], "plain-evaluation"),
        agreement=agreement.set_index("frame_id")["agreement"],
        dataset_version=info.version,
    )
    decision = gate_candidate(
        ModelRegistry(lake.local_path("registry")),
        report.evaluation,
        truth,
        test,
        imgsz=imgsz,
        tolerance=0.1,
        candidate_id=record["model_id"],
    )

    onnx = lake.local_path("models", record["model_id"], f"plain-{imgsz}.onnx")
    export_onnx(Path(record["weights"]), onnx, imgsz=imgsz)
    parity = onnx_parity(
        Path(record["weights"]), onnx, [Path(p) for p in test["path"].head(8)], imgsz=imgsz
    )
    release = publish_release(
        ReleaseRequest(
            onnx_path=str(onnx),
            imgsz=imgsz,
            thresholds=report.runtime_thresholds(),
            probe_images=list(test["path"].head(3)),
            channel="stable",
        ),
        lake.local_path("releases"),
        lake.local_path("tuf"),
    )
    outputs = release_predictions(
        Path(release["release_dir"]), frames, roadmark_home() / "runtime-cache"
    )
    reference_from_training(frames, outputs, class_names(), thresholds=0.0)
    elapsed = time.perf_counter() - started
    assert parity.passed and decision is not None
    return elapsed


def noop_chain_s(steps: int = 9) -> float:
    """The orchestrator's own cost: a chain of as many do-nothing assets, same instance."""
    import dagster as dg

    previous: str | None = None
    chain = []
    for index in range(steps):
        ins = {"upstream": dg.AssetIn(previous)} if previous else {}

        @dg.asset(name=f"noop_{index}", ins=ins)
        def step(**_: object) -> dict:
            return {}

        chain.append(step)
        previous = f"noop_{index}"
    job = dg.Definitions(assets=chain, jobs=[dg.define_asset_job("noop_chain")]).resolve_job_def(
        "noop_chain"
    )
    started = time.perf_counter()
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    assert job.execute_in_process(instance=dg.DagsterInstance.get(), run_config=quiet).success
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--imgsz", type=int, default=160)
    parser.add_argument(
        "--home", type=Path, default=Path(tempfile.gettempdir()) / "roadmark-bench-chain"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    prepare(args.home, args.epochs, args.imgsz)

    times: dict[str, list[float]] = {"dagster": [], "plain": []}
    for _ in range(args.repeats):
        times["dagster"].append(orchestrated(args.epochs, args.imgsz))
        times["plain"].append(plain(args.epochs, args.imgsz))
    medians = {side: statistics.median(values) for side, values in times.items()}
    print(
        json.dumps(
            {
                "runs": times,
                "median_s": medians,
                "ratio_dagster_over_plain": medians["dagster"] / medians["plain"],
                "epochs": args.epochs,
                "imgsz": args.imgsz,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
