"""``roadmark-edge``: update, run and inspect the device.

    roadmark-edge update --repo URL --device-dir DIR [--channel stable] [--trusted-root FILE]
                         [--reprovision]
    roadmark-edge run --device-dir DIR --source SRC [--every-n N] [--inbox DIR|URL] [--max-frames N]
    roadmark-edge status --device-dir DIR [--json]
    roadmark-edge health --bundle DIR --device-dir DIR   (internal: ``update`` runs it)

``run`` starts the runtime installed with the current release (its own slot), so the code and
the model always roll forward and back together. Each start is counted; after
``--max-failed-starts`` starts in a row that never processed a frame, the device rolls back to
the previous release by itself. Options, GPS file and source are checked before a start is
counted: an operator's mistake never counts against the release.

Every error is one line on stderr naming the input and the fix. Exit codes: 0 done, 1 an
unexpected error (``--log-level DEBUG`` shows its traceback), 2 a bad option or input, 3 an
update refused, 4 no device / a damaged state.json / no release / the release failed, 5 the source
does not open or yields no frame.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import socket
import sys
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

import jetson_runtime
from jetson_runtime.bundle import BundleError, load_bundle
from jetson_runtime.capture import SourceError, quiet_native_logs
from jetson_runtime.cli_args import parse_command_line
from jetson_runtime.inputs import (
    NoDeviceError,
    RunInputs,
    UsageError,
    check_device_dir,
    check_run_inputs,
    require_device,
)
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
from jetson_runtime.postprocess import DecodeError
from jetson_runtime.slots import (
    BUNDLE_DIR,
    RUNTIME_DIR,
    DeviceLayout,
    StateError,
    missing_folders,
    read_state,
    remove_empty_folders,
    strict_json,
    update_state,
)

LOG = logging.getLogger("roadmark-edge")
EXIT_INTERNAL, EXIT_USAGE, EXIT_REFUSED, EXIT_FAILED, EXIT_SOURCE = 1, 2, 3, 4, 5


def _emit(value: dict) -> None:
    """Print ``value`` as strict JSON: NaN and infinities become null."""
    text = json.dumps(strict_json(value), indent=2, default=str, allow_nan=False)
    sys.stdout.write(text + "\n")


def _cmd_update(args: argparse.Namespace) -> int:
    if args.reprovision and args.trusted_root is None:
        raise UsageError("--reprovision: needs --trusted-root FILE, the root to trust from now on")
    try:
        result = update(
            args.device_dir,
            args.repo,
            channel=args.channel,
            trusted_root=args.trusted_root,
            reprovision=args.reprovision,
            allow_downgrade=args.allow_downgrade,
        )
    except UpdateError as exc:
        LOG.error("update refused [%s]: %s", exc.reason, exc)
        _emit({"status": "refused", "reason": exc.reason, "message": str(exc)})
        return EXIT_REFUSED
    _emit(asdict(result))
    return 0


def _cmd_health(args: argparse.Namespace) -> int:
    layout = DeviceLayout(args.device_dir)
    created = missing_folders(layout.root)  # e.g. engine_cache/ made under a new folder
    code = EXIT_INTERNAL
    try:
        code = _check_health(args, layout)
    finally:
        if code != 0 and created:  # a failed check leaves none of the folders it made
            shutil.rmtree(created[0], ignore_errors=True)
            remove_empty_folders(created[1:])
    return code


def _check_health(args: argparse.Namespace, layout: DeviceLayout) -> int:
    from jetson_runtime.detector import Detector
    from jetson_runtime.health import check_health
    from jetson_runtime.session import SessionError

    try:
        bundle = load_bundle(args.bundle)
        result = check_health(bundle, Detector.open(bundle, layout.engine_cache))
    except (BundleError, SessionError, DecodeError) as exc:
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
    layout = DeviceLayout(args.device_dir)
    require_device(layout, release=True)
    counted = os.environ.get(IN_SLOT_ENV) == "1"  # in the slot's runtime: the launcher counted
    try:
        inputs = check_run_inputs(args)  # in the launcher: before the start is counted
    except (UsageError, SourceError):
        if counted:  # this runtime checks more than the launcher's did: not the release's fault
            start_not_counted(layout)
        raise
    if not counted:
        _launch_slot(layout, args, argv)  # returns only when the slot has no runtime of its own
    return _run_counted(layout, args, inputs)


def _run_counted(layout: DeviceLayout, args: argparse.Namespace, inputs: RunInputs) -> int:
    """Run the current release on the checked inputs, its start counted."""
    from jetson_runtime.detector import Detector
    from jetson_runtime.runner import run_source
    from jetson_runtime.session import SessionError
    from jetson_runtime.storage import StoragePolicy
    from jetson_runtime.telemetry import TelemetrySpool

    device_id, camera = _device_identity(layout, args)
    bundle = load_bundle(layout.current() / BUNDLE_DIR)
    try:
        detector = Detector.open(bundle, layout.engine_cache, prefer=args.provider)
    except SessionError as exc:
        LOG.error("%s", exc)  # the release's model does not load: the start stays counted
        return EXIT_FAILED
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
            detector=detector,
            gps=inputs.gps,
            storage=StoragePolicy(layout, args.storage_share),
            on_first_frame=lambda: start_succeeded(layout),
        )
        if summary.frames == 0:  # a source opens only once it gave a frame: a safety net
            raise SourceError(f"{args.source}: gave no frame to process; pass a video with frames")
    except SourceError as exc:
        start_not_counted(layout)  # the input failed, not the release
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
    layout = DeviceLayout(args.device_dir)
    require_device(layout)  # looks only: a status never creates the folder
    status = device_status(layout)
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


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    if level != "DEBUG":
        # The TUF client's HTTP library warns once per retry, and tuf logs each key it could not
        # verify: the one-line refusal already names the cause.
        logging.getLogger("urllib3").setLevel(logging.ERROR)
        logging.getLogger("tuf").setLevel(logging.WARNING)
        quiet_native_logs()


def _dispatch(args: argparse.Namespace, argv: Sequence[str]) -> int:
    check_device_dir(args.device_dir)
    if args.command == "update":
        return _cmd_update(args)
    if args.command == "run":
        return _cmd_run(args, argv)
    if args.command == "health":
        return _cmd_health(args)
    return _cmd_status(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``roadmark-edge`` with ``argv`` (``sys.argv[1:]`` when None); return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_command_line(argv)
    _configure_logging(args.log_level)
    try:
        return _dispatch(args, argv)
    except UsageError as exc:
        LOG.error("%s", exc)
        return EXIT_USAGE
    except SourceError as exc:
        LOG.error("%s", exc)
        return EXIT_SOURCE
    except (NoDeviceError, BundleError, StateError, DecodeError) as exc:  # the release failed
        LOG.error("%s", exc)
        return EXIT_FAILED
    except KeyboardInterrupt:
        LOG.error("interrupted")
        return 130
    except Exception as exc:  # the last net: one line, the traceback only when asked for
        LOG.debug("traceback", exc_info=True)
        LOG.error(
            "unexpected %s: %s; rerun with --log-level DEBUG for the traceback and report it",
            type(exc).__name__,
            exc,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
