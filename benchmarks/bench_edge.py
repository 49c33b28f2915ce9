"""Edge runtime benchmarks, side by side in one process (torch stays out of it).

1. End to end (letterbox + session.run + decode/NMS + telemetry row + spool) against the raw
   ``session.run`` on the same pre-letterboxed frames, interleaved block by block. Goal <= 1.10x.
2. The overlapped loop (decode in its own thread) against min(decode fps, inference fps), and
   against a sequential loop (decode, then infer, in one thread).
3. With --variants: FP16 and INT8 variants measured against FP32 and accepted or refused.

The model is a yolo11n with our 6 classes, randomly initialised (no weights can be downloaded
here) and exported once by ultralytics in a child process; timing does not depend on weights.

    .venv/bin/python benchmarks/bench_edge.py [--imgsz 640] [--frames 60] [--variants]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jetson_runtime.bundle import Bundle, RuntimeConfig, sha256_of  # noqa: E402
from jetson_runtime.capture import Frame, frames, parse_source  # noqa: E402
from jetson_runtime.detector import Detector  # noqa: E402
from jetson_runtime.preprocess import letterbox  # noqa: E402
from jetson_runtime.runner import RowBuilder, run_source  # noqa: E402
from jetson_runtime.session import open_session  # noqa: E402
from jetson_runtime.telemetry import TelemetrySpool  # noqa: E402

CLASSES = ("white_line", "white_marking", "yellow_line", "yellow_marking", "crosswalk", "guardrail")
EXPORT = """
import sys, shutil, yaml
from pathlib import Path
from roadmark_pipeline.model.offline import configure_ultralytics
configure_ultralytics(Path(sys.argv[3]))
from ultralytics import YOLO
from ultralytics.utils import ROOT as UROOT
cfg = yaml.safe_load(open(UROOT / "cfg/models/11/yolo11.yaml"))
cfg["nc"] = 6
work = Path(sys.argv[3]) / "yolo11n-nc6.yaml"  # the "n" in the name picks the nano scale
yaml.safe_dump(cfg, open(work, "w"))
model = YOLO(str(work))
print("exporting a randomly initialised yolo11n (no weights offline)", file=sys.stderr)
out = model.export(format="onnx", imgsz=int(sys.argv[2]), simplify=True, device="cpu")
shutil.copyfile(out, sys.argv[1])
"""


def model_path(imgsz: int) -> Path:
    cache = ROOT / ".roadmark" / "bench"
    path = cache / f"yolo11n_nc6_{imgsz}.onnx"
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            env = dict(os.environ, YOLO_OFFLINE="1", YOLO_AUTOINSTALL="false")
            subprocess.run([sys.executable, "-c", EXPORT, str(path), str(imgsz), tmp],
                           check=True, env=env, cwd=tmp)  # fmt: skip
    return path


def open_detector(path: Path, imgsz: int, cache: Path) -> Detector:
    config = RuntimeConfig("bench", imgsz, CLASSES, (0.25,) * 6)
    sha = sha256_of(path)
    bundle = Bundle(path.parent, "bench", config, {"files": {"model.onnx": {"sha256": sha}}})
    session = open_session(path, sha, imgsz, cache, prefer="cpu")
    return Detector(bundle, session)


def decoded(clip: Path, count: int) -> list[Frame]:
    return list(frames(parse_source(str(clip)), max_frames=count))


def bench_overhead(detector: Detector, clip_frames: list[Frame], rounds: int, spool_dir: Path):
    """Per-frame ms: raw session.run vs the whole per-frame path of the run loop."""
    tensors = [letterbox(f.bgr, detector.config.input_size)[0] for f in clip_frames]
    spool = TelemetrySpool(spool_dir, "bench", CLASSES, batch_rows=10_000)
    build_row = RowBuilder(detector, "bench", "unknown", None)
    raw, full = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        for tensor in tensors:
            detector.session.run(tensor)
        raw.append((time.perf_counter() - start) * 1000 / len(tensors))
        start = time.perf_counter()
        for frame in clip_frames:
            found, timing = detector(frame.bgr)
            spool.add(build_row(frame, found, timing))
        full.append((time.perf_counter() - start) * 1000 / len(clip_frames))
    spool.flush()
    return statistics.median(raw), statistics.median(full)


def bench_loop(detector: Detector, clip: Path, count: int, spool_dir: Path) -> dict[str, float]:
    """Frames per second: decode alone, inference alone, sequential loop, overlapped loop."""
    start = time.perf_counter()
    capture = cv2.VideoCapture(str(clip))
    images = []
    while len(images) < count:
        ok, image = capture.read()
        if not ok:
            break
        images.append(image)
    capture.release()
    decode_fps = len(images) / (time.perf_counter() - start)

    start = time.perf_counter()
    for image in images:
        detector(image)
    infer_fps = len(images) / (time.perf_counter() - start)

    start = time.perf_counter()
    capture, done = cv2.VideoCapture(str(clip)), 0
    while done < count:
        ok, image = capture.read()
        if not ok:
            break
        detector(image)
        done += 1
    capture.release()
    sequential_fps = done / (time.perf_counter() - start)

    spool = TelemetrySpool(spool_dir, "bench", CLASSES, batch_rows=10_000)
    summary = run_source(str(clip), detector.bundle, spool=spool, device_id="bench",
                         detector=detector, max_frames=count)  # fmt: skip
    return {
        "decode_fps": decode_fps,
        "inference_fps": infer_fps,
        "sequential_fps": sequential_fps,
        "overlapped_fps": summary.fps,
        "frames": float(len(images)),
    }


def bench_spinning(path: Path, imgsz: int, clip_frames: list[Frame], rounds: int) -> dict:
    """Raw session.run ms with ONNX Runtime's thread spinning on and off, interleaved."""
    import onnxruntime as ort

    sessions = {}
    for spin in ("1", "0"):
        options = ort.SessionOptions()
        options.add_session_config_entry("session.intra_op.allow_spinning", spin)
        sessions[spin] = ort.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
    tensors = [letterbox(f.bgr, imgsz)[0] for f in clip_frames[:10]]
    times: dict[str, list[float]] = {"1": [], "0": []}
    for _ in range(rounds):
        for spin, session in sessions.items():
            start = time.perf_counter()
            for tensor in tensors:
                session.run(None, {"images": tensor})
            times[spin].append((time.perf_counter() - start) * 1000 / len(tensors))
    return {
        "spin_on_ms": statistics.median(times["1"]),
        "spin_off_ms": statistics.median(times["0"]),
    }


def silver_set(tmp: Path, step: int) -> tuple[list, list]:
    """Real labelled frames (every ``step``-th silver frame) and their boxes as ground truth."""
    from roadmark_pipeline.model.silver import load_silver
    from roadmark_pipeline.release.variants import GroundTruth

    table, boxes = load_silver(ROOT / "data", tmp / "silver", frame_step=step)
    images, truth = [], []
    for row in table.itertuples():
        mine = boxes[boxes["frame_id"] == row.frame_id]
        images.append(cv2.imread(str(row.path)))
        xyxy = mine[["x1", "y1", "x2", "y2"]].to_numpy(np.float64).reshape(-1, 4)
        truth.append(GroundTruth(xyxy, mine["class_id"].to_numpy(np.int64)))
    return images, truth


def bench_variants(path: Path, imgsz: int, out_dir: Path, truth_step: int | None) -> list[dict]:
    from roadmark_pipeline.release.variants import choose_variants

    if truth_step:
        images, truth = silver_set(out_dir, truth_step)
    else:
        images = [cv2.imread(str(p)) for p in sorted((ROOT / "data" / "stills").glob("*.jpg"))]
        truth = None
    decisions = choose_variants(
        path, out_dir, frames=images, input_size=imgsz, num_classes=6, truth=truth
    )
    return [d.__dict__ for d in decisions]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clip", type=Path, default=ROOT / "data/videos/solidWhiteRight.mp4")
    parser.add_argument("--variants", action="store_true")
    parser.add_argument("--model", type=Path, help="an exported ONNX model instead of yolo11n")
    parser.add_argument("--truth-step", type=int, help="variants: silver labels, every n-th frame")
    args = parser.parse_args()

    path = args.model or model_path(args.imgsz)
    with tempfile.TemporaryDirectory() as tmp:
        detector = open_detector(path, args.imgsz, Path(tmp) / "cache")
        clip_frames = decoded(args.clip, min(args.frames, 30))
        raw_ms, full_ms = bench_overhead(detector, clip_frames, args.rounds, Path(tmp) / "s1")
        loop = bench_loop(detector, args.clip, args.frames, Path(tmp) / "s2")
        spinning = bench_spinning(path, args.imgsz, clip_frames, args.rounds)
        variants = []
        if args.variants:
            variants = bench_variants(path, args.imgsz, Path(tmp) / "v", args.truth_step)

    ideal = min(loop["decode_fps"], loop["inference_fps"])
    results = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus, {platform.python_version()}",
        "model": f"{args.model or 'yolo11n nc=6 (random init)'} at {args.imgsz}, ORT CPU",
        "raw_session_run_ms": raw_ms,
        "end_to_end_ms": full_ms,
        "end_to_end_ratio": full_ms / raw_ms,
        **loop,
        "overlapped_vs_ideal": loop["overlapped_fps"] / ideal,
        "overlapped_vs_sequential": loop["overlapped_fps"] / loop["sequential_fps"],
        **spinning,
        "load_average": os.getloadavg(),
        "variants": variants,
    }
    print(f"model: {results['model']}; {results['machine']}")
    print(f"raw session.run         {raw_ms:8.2f} ms/frame")
    print(f"end to end (+telemetry) {full_ms:8.2f} ms/frame  ratio {full_ms / raw_ms:.3f}x")
    print(f"decode alone            {loop['decode_fps']:8.1f} fps")
    print(f"inference (pre+run+post){loop['inference_fps']:8.1f} fps")
    print(f"sequential loop         {loop['sequential_fps']:8.1f} fps")
    print(f"overlapped loop         {loop['overlapped_fps']:8.1f} fps  "
          f"{results['overlapped_vs_ideal']:.2f}x of min(decode, inference), "
          f"{results['overlapped_vs_sequential']:.2f}x of sequential")  # fmt: skip
    print(f"session.run, spinning on {spinning['spin_on_ms']:.1f} ms, "
          f"off {spinning['spin_off_ms']:.1f} ms, load {os.getloadavg()[0]:.1f}")  # fmt: skip
    for decision in variants:
        print(f"variant {decision['reason']}")
    out = ROOT / ".roadmark" / "bench" / f"edge_{path.stem}_{args.imgsz}.json"
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"written {out}")


if __name__ == "__main__":
    main()
