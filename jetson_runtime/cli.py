"""``roadmark-edge``: update, run and inspect the device.

    roadmark-edge update --repo URL --device-dir DIR [--channel stable] [--trusted-root FILE]
    roadmark-edge run --device-dir DIR --source SRC [--every-n N] [--inbox DIR|URL] [--max-frames N]
    roadmark-edge status --device-dir DIR [--json]

``run`` starts the runtime installed with the current release (its own slot), so the code and
the model always roll forward and back together. Each start is counted; after
``--max-failed-starts`` starts in a row that never processed a frame, the device rolls back to
the previous release by itself.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import socket
import sys
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

import jetson_runtime
from jetson_runtime import __version__
from jetson_runtime.bundle import BundleError, load_bundle
from jetson_runtime.capture import SourceError
from jetson_runtime.ota import (
    IN_SLOT_ENV,
    UpdateError,
    record_start,
    slot_command,
    slot_env,
    start_not_counted,
    start_succeeded,
    update,
)
from jetson_runtime.parquet import UTC
from jetson_runtime.slots import BUNDLE_DIR, RUNTIME_DIR, DeviceLayout, read_state, update_state

LOG = logging.getLogger("roadmark-edge")
EXIT_REFUSED, EXIT_FAILED, EXIT_SOURCE = 3, 4, 5


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="roadmark-edge", description=__doc__.splitlines()[0])
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")
    parser.add_argument("--version", action="version", version=f"jetson_runtime {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("update", help="fetch, verify, health-check and switch to a new release")
    up.add_argument("--repo", required=True, help="TUF repository base URL")
    up.add_argument("--device-dir", required=True, type=Path)
    up.add_argument("--channel", default="stable", choices=("stable", "canary"))
    up.add_argument("--trusted-root", type=Path, help="root.json to trust (first update)")
    up.add_argument("--allow-downgrade", action="store_true", help="accept an older release")

    run = sub.add_parser("run", help="run the current release on a source")
    run.add_argument("--device-dir", required=True, type=Path)
    run.add_argument("--source", required=True, help="file, /dev/videoN, rtsp://..., or a pipeline")
    run.add_argument("--every-n", type=int, default=1, help="process one frame in N")
    run.add_argument("--inbox", help="fleet inbox: folder, s3://..., or http(s):// PUT URL")
    run.add_argument("--max-frames", type=int)
    run.add_argument("--device-id", help="this device's id (remembered)")
    run.add_argument("--camera-model", help="the camera's model (remembered)")
    run.add_argument("--gps", type=Path, help="t_ms,lat,lon CSV recorded with the source")
    run.add_argument("--no-evidence", action="store_true", help="keep no evidence frames")
    run.add_argument("--storage-share", type=float, default=0.5, help="largest share of the disk")
    run.add_argument("--provider", choices=("tensorrt", "cuda", "cpu"), help="force a provider")
    run.add_argument("--max-failed-starts", type=int, default=3)

    status = sub.add_parser("status", help="active release, channel, provider, uploads, storage")
    status.add_argument("--device-dir", required=True, type=Path)
    status.add_argument("--json", action="store_true", help="print JSON")

    health = sub.add_parser("health", help=argparse.SUPPRESS)
    health.add_argument("--bundle", required=True, type=Path)
    health.add_argument("--device-dir", required=True, type=Path)
    return parser


def _emit(value: dict) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def _cmd_update(args: argparse.Namespace) -> int:
    try:
        result = update(
            args.device_dir,
            args.repo,
            channel=args.channel,
            trusted_root=args.trusted_root,
            allow_downgrade=args.allow_downgrade,
        )
    except UpdateError as exc:
        LOG.error("update refused [%s]: %s", exc.reason, exc)
        _emit({"status": "refused", "reason": exc.reason, "message": str(exc)})
        return EXIT_REFUSED
    _emit(asdict(result))
    return 0


def _cmd_health(args: argparse.Namespace) -> int:
    from jetson_runtime.detector import Detector
    from jetson_runtime.health import check_health

    layout = DeviceLayout(args.device_dir)
    try:
        bundle = load_bundle(args.bundle)
        result = check_health(bundle, Detector.open(bundle, layout.engine_cache))
    except BundleError as exc:
        LOG.error("health check: %s", exc)
        return EXIT_FAILED
    for problem in result.problems:
        LOG.error("health: %s", problem)
    _emit(asdict(result))
    return 0 if result.ok else EXIT_FAILED


def _device_identity(layout: DeviceLayout, args: argparse.Namespace) -> tuple[str, str | None]:
    """Return the device id and camera model, remembering what the command line gave."""
    state = read_state(layout)
    device_id = args.device_id or state.get("device_id")
    if not device_id:
        host = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname()) or "device"
        device_id = f"{host}-{uuid.uuid4().hex[:6]}"
    camera = args.camera_model or state.get("camera_model")
    inbox = args.inbox or state.get("inbox")
    share = args.storage_share
    update_state(layout, device_id=device_id, camera_model=camera, inbox=inbox, storage_share=share)
    return device_id, camera


def _launch_slot(layout: DeviceLayout, args: argparse.Namespace, argv: Sequence[str]) -> None:
    """Count the start, roll back if needed, and re-run under the current slot's runtime."""
    record_start(layout, args.max_failed_starts)
    slot = layout.current()
    if slot is not None and (slot / RUNTIME_DIR / "jetson_runtime").is_dir():
        LOG.info("starting the runtime of release %s", slot.name)
        command = slot_command(slot, list(argv))
        os.execve(command[0], command, slot_env())


def _cmd_run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from jetson_runtime.gps import GpsTrack
    from jetson_runtime.runner import run_source
    from jetson_runtime.storage import StoragePolicy
    from jetson_runtime.telemetry import TelemetrySpool

    layout = DeviceLayout(args.device_dir)
    if layout.current() is None:
        LOG.error("%s: no release installed; run 'roadmark-edge update' first", layout.root)
        return EXIT_FAILED
    if os.environ.get(IN_SLOT_ENV) != "1":
        _launch_slot(layout, args, argv)  # returns only when the slot has no runtime of its own
    device_id, camera = _device_identity(layout, args)
    bundle = load_bundle(layout.current() / BUNDLE_DIR)
    spool = TelemetrySpool(
        layout.spool, device_id, bundle.config.class_names, read_state(layout).get("inbox")
    )
    try:
        summary = run_source(
            args.source,
            bundle,
            spool=spool,
            every_n=args.every_n,
            device_id=device_id,
            camera_model=camera,
            evidence_dir=None if args.no_evidence else layout.evidence,
            max_frames=args.max_frames,
            cache_root=layout.engine_cache,
            gps=GpsTrack.from_csv(args.gps) if args.gps else None,
            storage=StoragePolicy(layout, args.storage_share),
            on_first_frame=lambda: start_succeeded(layout),
        )
    except SourceError as exc:
        start_not_counted(layout)  # the source failed, not the release
        LOG.error("%s", exc)
        return EXIT_SOURCE
    last_run = {"at": datetime.now(UTC).isoformat(), "source": args.source, **asdict(summary)}
    update_state(layout, last_run=last_run, provider=summary.provider)
    runtime = str(Path(jetson_runtime.__file__).resolve().parent)
    _emit(asdict(summary) | {"release": bundle.version, "device_id": device_id, "runtime": runtime})
    return 0


def device_status(layout: DeviceLayout, share: float = 0.5) -> dict:
    """Return the device's status: release, channel, provider, last upload, storage use."""
    from jetson_runtime.storage import StoragePolicy
    from jetson_runtime.telemetry import read_upload_state

    state = read_state(layout)
    current = layout.current()
    release: dict = {"version": None}
    if current is not None:
        try:
            bundle = load_bundle(current / BUNDLE_DIR)
            release = {
                "version": bundle.version,
                "model_version": bundle.config.model_version,
                "lineage": bundle.lineage,
                "verified": True,
            }
        except BundleError as exc:
            release = {"version": current.name, "verified": False, "problem": str(exc)}
    policy = StoragePolicy(layout, state.get("storage_share", share))
    used, budget = policy.used(), policy.budget()
    upload = read_upload_state(layout.spool)
    return {
        "device_id": state.get("device_id"),
        "release": release,
        "previous": layout.previous_version(),
        "channel": state.get("channel"),
        "provider": state.get("provider"),
        "last_update": state.get("last_update"),
        "failed_starts": state.get("failed_starts", 0),
        "bad_versions": state.get("bad_versions", []),
        "last_upload": upload.get("last_success"),
        "upload_error": upload.get("error"),
        "pending_batches": len(list((layout.spool / "pending").glob("*.parquet"))),
        "storage": {"used_bytes": used, "budget_bytes": budget, "used_share": used / budget},
    }


def _cmd_status(args: argparse.Namespace) -> int:
    status = device_status(DeviceLayout(args.device_dir))
    if args.json:
        _emit(status)
        return 0
    storage = status["storage"]
    lines = [
        f"device        {status['device_id']}",
        f"release       {status['release'].get('version')}"
        + ("" if status["release"].get("verified", True) else "  (DOES NOT VERIFY)"),
        f"previous      {status['previous']}",
        f"channel       {status['channel']}",
        f"provider      {status['provider']}",
        f"last update   {status['last_update']}",
        f"last upload   {status['last_upload']}  ({status['pending_batches']} batches pending)",
        f"storage       {storage['used_bytes'] / 2**20:.1f} MiB of "
        f"{storage['budget_bytes'] / 2**20:.1f} MiB allowed ({storage['used_share']:.1%})",
        f"failed starts {status['failed_starts']}  bad versions {status['bad_versions']}",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``roadmark-edge`` with ``argv`` (``sys.argv[1:]`` when None); return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        if args.command == "update":
            return _cmd_update(args)
        if args.command == "run":
            return _cmd_run(args, argv)
        if args.command == "health":
            return _cmd_health(args)
        return _cmd_status(args)
    except BundleError as exc:
        LOG.error("%s", exc)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
