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
from jetson_runtime.detector import Detector, Timing  # noqa: E402
from jetson_runtime.postprocess import Detections  # noqa: E402
from jetson_runtime.preprocess import letterbox  # noqa: E402
from jetson_runtime.quality import frame_quality  # noqa: E402
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


def open_detector(path: Path, imgsz: int, cache: Path, threads: int | None = None) -> Detector:
    config = RuntimeConfig("bench", imgsz, CLASSES, (0.25,) * 6)
    sha = sha256_of(path)
    bundle = Bundle(path.parent, "bench", config, {"files": {"model.onnx": {"sha256": sha}}})
    session = open_session(path, sha, imgsz, cache, prefer="cpu", threads=threads)
    return Detector(bundle, session)


def decoded(clip: Path, count: int) -> list[Frame]:
    return list(frames(parse_source(str(clip)), max_frames=count))


def bench_overhead(detector: Detector, clip_frames: list[Frame], rounds: int, spool_dir: Path):
    """Per-frame ms, raw session.run vs the run loop's whole per-frame path, frame by frame.

    The two alternate on every frame (raw on its tensor, then the full path on the frame), so
    a change in the machine's background load hits both alike. The full path does all the
    per-frame work here, including what the run loop does in the decode thread (input metrics,
    letterbox). Returns medians of wall time and the mean process CPU time of each.
    """
    tensors = [letterbox(f.bgr, detector.config.input_size)[0] for f in clip_frames]
    for frame in clip_frames:  # all the work counts here, input metrics included
        frame.quality, frame.prepared = None, None
    spool = TelemetrySpool(spool_dir, "bench", CLASSES, batch_rows=10_000)
    build_row = RowBuilder(detector, "bench", "unknown", None)
    wall: dict[str, list[float]] = {"raw": [], "full": []}
    cpu: dict[str, list[float]] = {"raw": [], "full": []}
    for _ in range(rounds):
        for frame, tensor in zip(clip_frames, tensors, strict=True):
            c0, w0 = time.process_time(), time.perf_counter()
            detector.session.run(tensor)
            c1, w1 = time.process_time(), time.perf_counter()
            found, timing = detector(frame.bgr)
            spool.add(build_row(frame, found, timing))
            c2, w2 = time.process_time(), time.perf_counter()
            wall["raw"].append((w1 - w0) * 1000)
            wall["full"].append((w2 - w1) * 1000)
            cpu["raw"].append((c1 - c0) * 1000)
            cpu["full"].append((c2 - c1) * 1000)
    spool.flush()
    return {
        "raw_wall_ms": statistics.median(wall["raw"]),
        "full_wall_ms": statistics.median(wall["full"]),
        "raw_cpu_ms": statistics.mean(cpu["raw"]),
        "full_cpu_ms": statistics.mean(cpu["full"]),
    }


def _decode_fps(detector, clip: Path, count: int) -> tuple[float, list[Frame]]:
    """What the decode thread does: read a frame, measure its input metrics, letterbox it."""
    start = time.perf_counter()
    capture, decoded_frames = cv2.VideoCapture(str(clip)), []
    while len(decoded_frames) < count:
        ok, image = capture.read()
        if not ok:
            break
        index = len(decoded_frames)
        frame = Frame(index, image, 0.0, 0.0, time.time(), 0, frame_quality(image))
        frame.prepared = detector.prepare(image)
        decoded_frames.append(frame)
    capture.release()
    return len(decoded_frames) / (time.perf_counter() - start), decoded_frames


def _main_thread_fps(detector: Detector, decoded_frames: list[Frame], spool_dir: Path) -> float:
    """What the run loop's main thread does: run + decode, build the row, spool it."""
    spool = TelemetrySpool(spool_dir, "bench", CLASSES, batch_rows=10_000)
    build_row = RowBuilder(detector, "bench", "unknown", None)
    start = time.perf_counter()
    for frame in decoded_frames:
        found, timing = detector.detect(frame.prepared)
        spool.add(build_row(frame, found, timing))
    return len(decoded_frames) / (time.perf_counter() - start)


def _sequential_fps(detector: Detector, clip: Path, count: int, spool_dir: Path) -> float:
    """Both in one thread: read, metrics, detect, row, spool."""
    spool = TelemetrySpool(spool_dir, "bench", CLASSES, batch_rows=10_000)
    build_row = RowBuilder(detector, "bench", "unknown", None)
    start = time.perf_counter()
    capture, done = cv2.VideoCapture(str(clip)), 0
    while done < count:
        ok, image = capture.read()
        if not ok:
            break
        frame = Frame(done, image, 0.0, 0.0, time.time(), 0, frame_quality(image))
        found, timing = detector(image)
        spool.add(build_row(frame, found, timing))
        done += 1
    capture.release()
    return done / (time.perf_counter() - start)


def bench_loop(
    detector: Detector, clip: Path, count: int, spool_dir: Path, repeats: int = 3
) -> dict[str, float]:
    """Frames per second (median of ``repeats``, modes interleaved): the decode thread's work
    alone, the main thread's work alone, both in one thread, and the overlapped run loop."""
    runs: dict[str, list[float]] = {k: [] for k in ("decode", "inference", "sequential", "loop")}
    for repeat in range(repeats):
        fps, decoded_frames = _decode_fps(detector, clip, count)
        runs["decode"].append(fps)
        runs["inference"].append(
            _main_thread_fps(detector, decoded_frames, spool_dir / f"m{repeat}")
        )
        runs["sequential"].append(_sequential_fps(detector, clip, count, spool_dir / f"s{repeat}"))
        spool = TelemetrySpool(spool_dir / f"l{repeat}", "bench", CLASSES, batch_rows=10_000)
        summary = run_source(str(clip), detector.bundle, spool=spool, device_id="bench",
                             detector=detector, max_frames=count)  # fmt: skip
        runs["loop"].append(summary.fps)
    return {
        "decode_fps": statistics.median(runs["decode"]),
        "inference_fps": statistics.median(runs["inference"]),
        "sequential_fps": statistics.median(runs["sequential"]),
        "overlapped_fps": statistics.median(runs["loop"]),
    }


class DeviceWaitDetector:
    """Stands in for inference on an accelerator: the CPU is idle while it waits ``wait_ms``.

    On a Jetson the GPU runs the model while the CPU decodes the next frame; on this 2-core
    machine ONNX Runtime's CPU run takes the cores the decode thread needs. This models the
    device case to show what the overlap buys when the CPU is free during inference.
    """

    def __init__(self, detector: Detector, wait_ms: float) -> None:
        self.bundle, self.config, self.provider = detector.bundle, detector.config, "device-wait"
        self.detector = detector
        self.wait_s = wait_ms / 1000.0

    def prepare(self, bgr):
        return self.detector.prepare(bgr)

    def detect(self, prepared):
        start = time.perf_counter()
        time.sleep(self.wait_s)
        waited = (time.perf_counter() - start) * 1e3
        return Detections.empty(), Timing(prepared.preprocess_ms, waited, 0.0)

    def __call__(self, bgr):
        return self.detect(self.prepare(bgr))


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


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clip", type=Path, default=ROOT / "data/videos/solidWhiteRight.mp4")
    parser.add_argument("--variants", action="store_true")
    parser.add_argument("--device-wait-ms", type=float, default=6.0,
                        help="the device-wait model's inference time (0 skips it)")  # fmt: skip
    parser.add_argument("--threads", type=int, help="ONNX Runtime intra-op threads (default: all)")
    parser.add_argument("--model", type=Path, help="an exported ONNX model instead of yolo11n")
    parser.add_argument("--truth-step", type=int, help="variants: silver labels, every n-th frame")
    return parser.parse_args()


def measure(args: argparse.Namespace, path: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        detector = open_detector(path, args.imgsz, Path(tmp) / "cache", args.threads)
        clip_frames = decoded(args.clip, min(args.frames, 30))
        overhead = bench_overhead(detector, clip_frames, args.rounds, Path(tmp) / "s1")
        loop = bench_loop(detector, args.clip, args.frames, Path(tmp) / "s2")
        spinning = bench_spinning(path, args.imgsz, clip_frames, args.rounds)
        waiting = {}
        if args.device_wait_ms:
            stand_in = DeviceWaitDetector(detector, args.device_wait_ms)
            waiting = bench_loop(stand_in, args.clip, 200, Path(tmp) / "s3")
        variants = []
        if args.variants:
            variants = bench_variants(path, args.imgsz, Path(tmp) / "v", args.truth_step)
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus, {platform.python_version()}",
        "model": f"{args.model or 'yolo11n nc=6 (random init)'} at {args.imgsz}, ORT CPU",
        "threads": args.threads or "default",
        **overhead,
        "end_to_end_ratio_wall": overhead["full_wall_ms"] / overhead["raw_wall_ms"],
        "end_to_end_ratio_cpu": overhead["full_cpu_ms"] / overhead["raw_cpu_ms"],
        **loop,
        "overlapped_vs_ideal": loop["overlapped_fps"]
        / min(loop["decode_fps"], loop["inference_fps"]),
        "overlapped_vs_sequential": loop["overlapped_fps"] / loop["sequential_fps"],
        **spinning,
        "device_wait": waiting,
        "load_average": os.getloadavg(),
        "variants": variants,
    }


def report(r: dict) -> None:
    print(f"model: {r['model']}, threads {r['threads']}; {r['machine']}")
    print(f"raw session.run         {r['raw_wall_ms']:8.2f} ms/frame wall, "
          f"{r['raw_cpu_ms']:.2f} ms CPU")  # fmt: skip
    print(f"end to end (+telemetry) {r['full_wall_ms']:8.2f} ms/frame wall, "
          f"{r['full_cpu_ms']:.2f} ms CPU; ratio {r['end_to_end_ratio_wall']:.3f}x "
          f"wall, {r['end_to_end_ratio_cpu']:.3f}x CPU")  # fmt: skip
    print(f"decode thread's work    {r['decode_fps']:8.1f} fps (read + input metrics + letterbox)")
    print(f"main thread's work      {r['inference_fps']:8.1f} fps (run + decode/NMS + telemetry)")
    print(f"sequential loop         {r['sequential_fps']:8.1f} fps")
    print(f"overlapped loop         {r['overlapped_fps']:8.1f} fps  "
          f"{r['overlapped_vs_ideal']:.2f}x of min(decode, main), "
          f"{r['overlapped_vs_sequential']:.2f}x of sequential")  # fmt: skip
    print(f"session.run, spinning on {r['spin_on_ms']:.1f} ms, off {r['spin_off_ms']:.1f} ms; "
          f"load average {r['load_average'][0]:.1f}")  # fmt: skip
    wait = r["device_wait"]
    if wait:
        share = wait["overlapped_fps"] / min(wait["decode_fps"], wait["inference_fps"])
        print("device-wait model (inference waits on an accelerator, the CPU is free):")
        print(f"  decode {wait['decode_fps']:.1f}, main {wait['inference_fps']:.1f}, "
              f"sequential {wait['sequential_fps']:.1f}, overlapped {wait['overlapped_fps']:.1f} "
              f"fps = {share:.2f}x of min(decode, main)")  # fmt: skip
    for decision in r["variants"]:
        print(f"variant {decision['reason']}")


def main() -> None:
    args = _arguments()
    path = args.model or model_path(args.imgsz)
    results = measure(args, path)
    report(results)
    out = ROOT / ".roadmark" / "bench" / f"edge_{path.stem}_{args.imgsz}_t{args.threads or 0}.json"
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"written {out}")


if __name__ == "__main__":
    main()
