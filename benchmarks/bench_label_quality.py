"""cleanlab's object-detection ``find_label_issues``: its own forked pool against in-process.

cleanlab 2.9 forks a one-worker ``multiprocessing.Pool`` per IoU threshold for its per-class AP;
``roadmark_pipeline.model.label_quality`` swaps that pool for one that runs in the calling
process (forked workers inside a Dagster run print DagsterExecutionInterruptedError tracebacks
on teardown). This measures what the swap costs, on the 113 real silver-labelled frames: their
labels, and predictions made from them (each box jittered by a few pixels, plus up to two
spurious boxes per frame, seeded). Runs alternate (pool, in-process, pool, ...) so background
load hits both alike; medians are reported with their ratio, and the flags must be identical.

    .venv/bin/python benchmarks/bench_label_quality.py [--repeats 7] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from roadmark_pipeline.model.label_quality import (  # noqa: E402
    _cleanlab_in_process,
    to_cleanlab_inputs,
)
from roadmark_pipeline.model.silver import load_silver  # noqa: E402
from roadmark_pipeline.taxonomy import class_names  # noqa: E402

XYXY = ["x1", "y1", "x2", "y2"]


def predictions_from(frames: pd.DataFrame, boxes: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Jittered copies of the labelled boxes plus a few spurious ones, with random scores."""
    rng = np.random.default_rng(seed)
    kept = boxes[["frame_id", "class_id", *XYXY]].copy()
    kept[XYXY] = kept[XYXY].to_numpy(float) + rng.normal(0, 4, (len(kept), 4))
    spurious = []
    for frame in frames.itertuples():
        for _ in range(int(rng.integers(0, 3))):
            x, y = rng.uniform(0, frame.width - 60), rng.uniform(0, frame.height - 40)
            spurious.append((frame.frame_id, int(rng.integers(0, 6)), x, y, x + 60, y + 40))
    extra = pd.DataFrame(spurious, columns=kept.columns)
    table = pd.concat([kept, extra], ignore_index=True)
    return table.assign(score=rng.uniform(0.05, 1.0, len(table)))


def main() -> None:
    """Time both ways alternately and print (or write) the medians and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    from cleanlab.object_detection import filter as cl_filter

    with tempfile.TemporaryDirectory() as work:
        frames, boxes = load_silver(ROOT / "data", Path(work))
    names = class_names()
    labels, preds = to_cleanlab_inputs(frames, boxes, predictions_from(frames, boxes), len(names))

    times: dict[str, list[float]] = {"forked_pool": [], "in_process": []}
    flags: dict[str, np.ndarray] = {}
    for _ in range(args.repeats):
        for way in times:
            start = time.perf_counter()
            if way == "in_process":
                with _cleanlab_in_process():
                    flags[way] = cl_filter.find_label_issues(labels, preds)
            else:
                flags[way] = cl_filter.find_label_issues(labels, preds)
            times[way].append(time.perf_counter() - start)

    if not np.array_equal(flags["forked_pool"], flags["in_process"]):
        raise SystemExit("the two ways flagged different frames")
    medians = {way: statistics.median(values) for way, values in times.items()}
    result = {
        "frames": len(frames),
        "boxes": len(boxes),
        "flagged": int(np.sum(flags["in_process"])),
        "repeats": args.repeats,
        **{f"{way}_ms_per_frame": 1000 * medians[way] / len(frames) for way in medians},
        "in_process_over_forked_pool": medians["in_process"] / medians["forked_pool"],
    }
    text = json.dumps(result, indent=2)
    if args.json:
        args.json.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
