"""Ingest throughput on one Celery worker against two, and each executor's per-step overhead.

Every case runs the production path on this machine: a throwaway PostgreSQL instance
(deploy/postgres/dagster.yaml, a fresh database per case), the daemon and its landing sensor,
the lake in moto's S3-protocol server (or a local folder with ``--lake local``), and for Celery
a Redis broker and one or two workers (``--concurrency=1`` each). The clips are uploaded, the
sensor launches one ingest run per clip, and the figures are read back from the event log in
PostgreSQL:

- per-step overhead: (run time - time inside the steps) / steps, median over the runs: what
  the executor adds around each step (process start, queueing, code loading, IO handover).
  Short clips, one run at a time, so runs do not compete: in_process, multiprocess, celery.
- throughput: clips per minute from the first run's start to the last run's end, with long
  clips (each real video looped ``--loops`` times) and several runs at once, so the steps'
  work dominates; celery with 1 worker, then 2 (``--repeats`` alternates the order). The
  scaling ratio is the median throughput with 2 workers over the median with 1.

Clips are the four real videos, re-muxed with a numbered tag so each is new content with the
same decoding work.

    .venv/bin/python benchmarks/bench_executors.py [--clips 8] [--loops 8] [--repeats 1]
        [--max-runs 4] [--lake s3|local] [--json out.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.deploy import services as sv  # noqa: E402
from tests.deploy import stores  # noqa: E402
from tests.s3server import DUMMY_CREDENTIALS  # noqa: E402

VIDEOS = ("solidWhiteRight.mp4", "project_video_cut.mp4", "test_small1.mp4", "test_video.mp4")
OVERHEAD_CASES = (("in_process", 0), ("multiprocess", 0), ("celery", 1))
OVERHEAD_CLIPS = 4
BUCKET = "roadmark-bench"
TIMEOUT_S = 900


@dataclasses.dataclass
class Stack:
    """The servers every case shares."""

    pg: stores.Postgres
    redis_url: str
    s3_url: str | None


def make_clips(target: Path, count: int, loops: int = 1) -> list[Path]:
    """``count`` distinct clips: the real videos in turn, each ``loops`` times over, re-muxed
    (no re-encoding) with a numbered tag."""
    target.mkdir(parents=True)
    clips = []
    for index in range(count):
        name = VIDEOS[index % len(VIDEOS)]
        out = target / f"{index:03d}_{name}"
        subprocess.run(
            ["ffmpeg", "-v", "error", "-stream_loop", str(loops - 1)]
            + ["-i", str(ROOT / "data/videos" / name), "-c", "copy", "-map", "0:v"]
            + ["-metadata", f"comment=roadmark bench clip {index}", str(out)],
            check=True,
        )
        clips.append(out)
    return clips


def case_env(stack: Stack, base: Path, db: str, executor: str, max_runs: int) -> dict[str, str]:
    """The environment of one case's daemon and workers: its own database, lake and landing."""
    home = base / "dagster_home"
    home.mkdir(parents=True)
    shutil.copyfile(ROOT / "deploy/postgres/dagster.yaml", home / "dagster.yaml")
    env = stack.pg.env() | {
        "ROADMARK_PG_DB": db,
        "DAGSTER_HOME": str(home),
        "ROADMARK_HOME": str(base / "roadmark_home"),
        "ROADMARK_EXECUTOR": executor,
        "ROADMARK_CELERY_BROKER": stack.redis_url,
        "ROADMARK_CELERY_BACKEND": stack.redis_url,
        "ROADMARK_MAX_CONCURRENT_RUNS": str(max_runs),
    }
    if stack.s3_url:
        env |= DUMMY_CREDENTIALS | {
            "AWS_ENDPOINT_URL": stack.s3_url,
            "ROADMARK_LAKE": f"s3://{BUCKET}/{db}/lake",
            "ROADMARK_LANDING": f"s3://{BUCKET}/{db}/landing",
        }
    else:
        env |= {"ROADMARK_LAKE": str(base / "lake"), "ROADMARK_LANDING": str(base / "landing")}
    return sv.base_env(env)


def land(stack: Stack, env: dict[str, str], clips: list[Path]) -> None:
    """Upload the clips to the landing zone (local files get an old mtime: already settled)."""
    if stack.s3_url:
        s3 = stores.s3_client(stack.s3_url)
        prefix = env["ROADMARK_LANDING"].removeprefix(f"s3://{BUCKET}/")
        for clip in clips:
            s3.upload_file(str(clip), BUCKET, f"{prefix}/{clip.name}")
        return
    landing = Path(env["ROADMARK_LANDING"])
    landing.mkdir(parents=True)
    for clip in clips:
        shutil.copyfile(clip, landing / clip.name)
        past = time.time() - 3600
        os.utime(landing / clip.name, (past, past))


def run_case(
    stack: Stack, base: Path, case: tuple[str, int], clips: list[Path], max_runs: int
) -> dict:
    """Ingest every clip with one executor (and worker count); return its figures."""
    executor, workers = case
    db = f"{executor}_{workers}_{len(list(base.glob(f'{executor}_{workers}_*')))}"
    stack.pg.create_database(db)
    folder = base / db
    env = case_env(stack, folder, db, executor, max_runs)
    with sv.running_services(folder) as services:
        started = [
            sv.start_celery_worker(services, f"w{i + 1}", env, wait=False) for i in range(workers)
        ]
        sv.start_daemon(services, env)
        for worker in started:
            sv.wait_until_ready(worker)
        idle_cpu = sum(tree_cpu_seconds(worker.pid) for worker in started)  # start-up
        land(stack, env, clips)
        subprocess.run(
            [str(sv.VENV_BIN / "dagster"), "sensor", "start", "landing_sensor"]
            + ["-w", str(ROOT / "workspace.yaml")],
            env=env,
            cwd=folder,
            check=True,
            capture_output=True,
            timeout=120,
        )
        pg = dataclasses.replace(stack.pg, db=db)
        wait_for_runs(pg, services, len(clips))
        cpu = sum(tree_cpu_seconds(worker.pid) for worker in started) - idle_cpu
    cpu_figures = {"worker_cpu_s_per_clip": round(cpu / len(clips), 2)} if workers else {}
    return {"executor": executor, "workers": workers} | figures(pg, len(clips)) | cpu_figures


def tree_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process and everything under it used so far."""
    import psutil

    root = psutil.Process(pid)
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def wait_for_runs(pg: stores.Postgres, services: sv.Services, count: int) -> None:
    """Wait until ``count`` runs succeeded; raise with the logs on a failure or timeout."""
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        statuses = [status for (status,) in pg.query("SELECT status FROM runs")]
        if any(status in ("FAILURE", "CANCELED") for status in statuses):
            raise RuntimeError(f"a run failed: {statuses}\n{services.logs()}")
        if statuses.count("SUCCESS") >= count:
            return
        time.sleep(1)
    raise RuntimeError(f"{count} runs not done in {TIMEOUT_S} s\n{services.logs()}")


# As stored in event_logs.dagster_event_type (runs keep their old "pipeline" names there).
RUN_START, RUN_SUCCESS = "PIPELINE_START", "PIPELINE_SUCCESS"
EVENTS = (RUN_START, RUN_SUCCESS, "STEP_START", "STEP_SUCCESS")


def figures(pg: stores.Postgres, clips: int) -> dict:
    """Throughput and per-step overhead from the event log of one case's database."""
    rows = pg.query(
        "SELECT run_id, step_key, dagster_event_type, extract(epoch from timestamp) "
        "FROM event_logs WHERE dagster_event_type = ANY(%s)",
        (list(EVENTS),),
    )
    runs: dict[str, dict] = defaultdict(lambda: {"steps": defaultdict(dict)})
    for run_id, step, kind, at in rows:
        if step is None:
            runs[run_id][kind] = float(at)
        else:
            runs[run_id]["steps"][step][kind] = float(at)
    overheads, step_times, run_times = [], [], []
    for run in runs.values():
        inside = [s["STEP_SUCCESS"] - s["STEP_START"] for s in run["steps"].values()]
        run_time = run[RUN_SUCCESS] - run[RUN_START]
        run_times.append(run_time)
        step_times.extend(inside)
        overheads.append((run_time - sum(inside)) / len(inside))
    span = max(r[RUN_SUCCESS] for r in runs.values()) - min(r[RUN_START] for r in runs.values())
    return {
        "runs": len(runs),
        "span_s": round(span, 1),
        "clips_per_min": round(60 * clips / span, 2),
        "run_s_median": round(statistics.median(run_times), 2),
        "step_s_median": round(statistics.median(step_times), 2),
        "overhead_per_step_s": round(statistics.median(overheads), 2),
    }


def table(results: list[dict]) -> str:
    """The cases side by side."""
    head = ("executor", "workers", "clips/min", "span s", "run s", "step s", "overhead/step s")
    head += ("worker CPU s/clip",)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        cells = (r["executor"], r["workers"] or "-", r["clips_per_min"], r["span_s"])
        cells += (r["run_s_median"], r["step_s_median"], r["overhead_per_step_s"])
        cells += (r.get("worker_cpu_s_per_clip", "-"),)
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def measure(stack: Stack, base: Path, args) -> dict:
    """Both parts: the overhead cases, then the throughput cases in alternating order."""
    short = make_clips(base / "short", OVERHEAD_CLIPS)
    overhead = [run_case(stack, base, case, short, 1) for case in OVERHEAD_CASES]
    long = make_clips(base / "long", args.clips, args.loops)
    throughput: list[dict] = []
    for repeat in range(args.repeats):
        order = (1, 2) if repeat % 2 == 0 else (2, 1)
        throughput += [run_case(stack, base, ("celery", n), long, args.max_runs) for n in order]
    rates = {
        n: statistics.median(r["clips_per_min"] for r in throughput if r["workers"] == n)
        for n in (1, 2)
    }
    return {
        "overhead": overhead,
        "throughput": throughput,
        "scaling_2_over_1_worker": round(rates[2] / rates[1], 2),
    }


def main() -> None:
    """Run every case on fresh databases and print the figures and the scaling ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=8, help="clips in the throughput part")
    parser.add_argument("--loops", type=int, default=8, help="each video looped this often")
    parser.add_argument("--repeats", type=int, default=1, help="throughput pairs (1, 2 workers)")
    parser.add_argument("--max-runs", type=int, default=4, help="runs at once (throughput)")
    parser.add_argument("--lake", choices=("s3", "local"), default="s3")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="roadmark-bench-executors-"))
    load_before = os.getloadavg()[0]
    try:
        with sv.running_services(base) as services:
            s3_url = stores.start_moto(services) if args.lake == "s3" else None
            stack = Stack(stores.start_postgres(services), stores.start_redis(services), s3_url)
            if s3_url:
                stores.s3_client(s3_url).create_bucket(Bucket=BUCKET)
            results = measure(stack, base, args)
    finally:
        shutil.rmtree(base, ignore_errors=True)

    summary = {
        "settings": vars(args) | {"json": str(args.json) if args.json else None},
        "cpus": os.cpu_count(),
        "load_average_1min_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    } | results
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    print("per-step overhead (short clips, one run at a time)")
    print(table(results["overhead"]))
    print(f"\nthroughput ({args.clips} clips x {args.loops} loops, {args.max_runs} runs at once)")
    print(table(results["throughput"]))
    print(f"\nscaling 2 workers / 1 worker: {results['scaling_2_over_1_worker']}")


if __name__ == "__main__":
    main()
