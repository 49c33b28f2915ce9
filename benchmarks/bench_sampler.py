"""The sampler against ``ffmpeg -threads 2 -i CLIP -f null -`` on the same 720p clips.

Both sides decode every frame. The sampler also takes 1 frame in 25, measures its quality,
anonymises it and writes it as JPEG; ffmpeg only decodes. Runs alternate (ffmpeg, sampler,
ffmpeg, ...) so background load hits both alike; the median of the repeats is reported.

    .venv/bin/python benchmarks/bench_sampler.py [--repeats 7] [--json results.json]

Clips: data/videos/project_video_cut.mp4 (76 frames, MPEG-4 Part 2), a 760-frame clip made by
concatenating it ten times (stream copy), and an H.264 clip of 720p real clips concatenated
and re-encoded (libx264, preset medium, GOP 50: a dashcam-like stream).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import av  # noqa: E402

from roadmark_pipeline.video.anonymise import HaarAnonymiser, NullAnonymiser  # noqa: E402
from roadmark_pipeline.video.sampling import SamplingPolicy, sample_source  # noqa: E402

VIDEOS = ROOT / "data" / "videos"
FFMPEG = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin"]


def make_clips(work: Path) -> dict[str, Path]:
    """Return the benchmark clips, building the concatenated ones under ``work``."""
    work.mkdir(parents=True, exist_ok=True)
    cut = VIDEOS / "project_video_cut.mp4"
    long_mpeg4 = work / "project_video_cut_x10.mp4"
    if not long_mpeg4.exists():
        listing = work / "x10.txt"
        listing.write_text("".join(f"file '{cut}'\n" for _ in range(10)))
        subprocess.run(
            [
                *FFMPEG,
                "-y",
                "-f",
                "concat",
                "-safe",
                "0",
                "-i",
                str(listing),
                "-c",
                "copy",
                str(long_mpeg4),
            ],
            check=True,
        )
    long_h264 = work / "real720p_x3_h264.mp4"
    if not long_h264.exists():
        parts = [
            VIDEOS / name for name in ("test_video.mp4", "test_small1.mp4", "project_video_cut.mp4")
        ] * 3
        inputs = [arg for part in parts for arg in ("-i", str(part))]
        graph = "".join(f"[{i}:v:0]" for i in range(len(parts))) + (
            f"concat=n={len(parts)}:v=1:a=0,format=yuv420p[v]"
        )
        subprocess.run(
            [
                *FFMPEG,
                "-y",
                *inputs,
                "-filter_complex",
                graph,
                "-map",
                "[v]",
                "-c:v",
                "libx264",
                "-preset",
                "medium",
                "-g",
                "50",
                "-r",
                "25",
                str(long_h264),
            ],
            check=True,
        )
    return {
        "project_video_cut (76 f, mpeg4)": cut,
        "project_video_cut x10 (760 f, mpeg4)": long_mpeg4,
        "real 720p x3 (606 f, h264)": long_h264,
    }


# A timing: (wall seconds, CPU seconds of all threads or of the child process).
Timing = tuple[float, float]


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def time_ffmpeg(clip: Path) -> Timing:
    cpu, start = _cpu(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run([*FFMPEG, "-threads", "2", "-i", str(clip), "-f", "null", "-"], check=True)
    return time.perf_counter() - start, _cpu(resource.RUSAGE_CHILDREN) - cpu


def sampler_runner(make_anonymiser: Callable[[], object], work: Path) -> Callable[[Path], Timing]:
    def run(clip: Path) -> Timing:
        with tempfile.TemporaryDirectory(dir=work) as out:
            cpu, start = _cpu(resource.RUSAGE_SELF), time.perf_counter()
            sample_source(
                clip, Path(out) / "frames", SamplingPolicy(every_n=25), anonymiser=make_anonymiser()
            )
            return time.perf_counter() - start, _cpu(resource.RUSAGE_SELF) - cpu

    return run


def time_decode_only(clip: Path) -> Timing:
    cpu, start = _cpu(resource.RUSAGE_SELF), time.perf_counter()
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _ in container.decode(stream):
            pass
    return time.perf_counter() - start, _cpu(resource.RUSAGE_SELF) - cpu


def count_frames(clip: Path) -> int:
    with av.open(str(clip)) as container:
        return sum(1 for _ in container.decode(video=0))


def bench(
    clips: dict[str, Path], repeats: int, work: Path, only: list[str]
) -> list[dict[str, object]]:
    variants: dict[str, Callable[[Path], Timing]] = {
        "sampler, default Haar (detect at 512 px)": sampler_runner(HaarAnonymiser, work),
        "sampler, Haar at 640 px": sampler_runner(lambda: HaarAnonymiser(detect_width=640), work),
        "sampler, no anonymiser": sampler_runner(NullAnonymiser, work),
        "PyAV decode only": time_decode_only,
    }
    if only:
        variants = {name: run for name, run in variants.items() if any(o in name for o in only)}
    results = []
    for label, clip in clips.items():
        frames = count_frames(clip)
        for name, runner in variants.items():
            runner(clip)  # warm-up: page cache, cascade files, first-call costs
            time_ffmpeg(clip)
            ours, theirs = [], []
            for _ in range(repeats):
                theirs.append(time_ffmpeg(clip))
                ours.append(runner(clip))
            results.append(_row(label, name, frames, ours, theirs))
            row = results[-1]
            print(
                f"| {label} | {name} | {row['ours_fps']:.0f} | {row['ffmpeg_fps']:.0f} | "
                f"{row['ratio']:.2f}x | {row['ours_cpu_s']:.2f} | {row['ffmpeg_cpu_s']:.2f} | "
                f"{row['best_ratio_here']:.2f}x |",
                flush=True,
            )
    return results


def _row(
    label: str, name: str, frames: int, ours: list[Timing], theirs: list[Timing]
) -> dict[str, object]:
    """One result: median wall and CPU per side, and the best ratio this machine allows.

    However well the work overlaps, ours cannot finish before its CPU seconds spread over every
    core: ``ffmpeg wall / (our CPU / cores)`` bounds the ratio from above.
    """
    ours_s, theirs_s = (statistics.median(wall for wall, _ in side) for side in (ours, theirs))
    ours_cpu, theirs_cpu = (statistics.median(cpu for _, cpu in side) for side in (ours, theirs))
    cores = len(os.sched_getaffinity(0))
    return {
        "clip": label,
        "variant": name,
        "frames": frames,
        "repeats": len(ours),
        "cores": cores,
        "ours_fps": frames / ours_s,
        "ffmpeg_fps": frames / theirs_s,
        "ratio": theirs_s / ours_s,
        "ours_cpu_s": ours_cpu,
        "ffmpeg_cpu_s": theirs_cpu,
        "best_ratio_here": theirs_s / (ours_cpu / cores),
        "ours_s": [round(wall, 4) for wall, _ in ours],
        "ffmpeg_s": [round(wall, 4) for wall, _ in theirs],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--work", type=Path, default=ROOT / ".roadmark" / "bench")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--only", nargs="*", default=[], help="variants whose name contains one")
    parser.add_argument("--clips", nargs="*", default=[], help="clips whose label contains one")
    args = parser.parse_args()

    clips = make_clips(args.work)
    if args.clips:
        clips = {
            label: clip for label, clip in clips.items() if any(c in label for c in args.clips)
        }
    print(
        "| clip | variant | ours fps | ffmpeg fps | ratio (ours/ffmpeg) | ours CPU s "
        "| ffmpeg CPU s | best ratio on these cores |"
    )
    print("|---|---|---|---|---|---|---|---|")
    results = bench(clips, args.repeats, args.work, args.only)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
