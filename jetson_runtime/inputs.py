"""Checks of what the command line gave, made before anything is counted, started or written.

A wrong option, a missing GPS file or a source that does not open is the operator's mistake, not
the release's: it must never count as a failed start (enough of those roll the device back and
mark a healthy release bad). ``roadmark-edge run`` therefore checks all of them first.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from jetson_runtime.capture import SourceSpec, open_capture, parse_source
from jetson_runtime.gps import GpsError, GpsTrack
from jetson_runtime.inbox import InboxError, open_inbox
from jetson_runtime.slots import STATE_FILE, DeviceLayout
from jetson_runtime.telemetry import device_id_problem


class UsageError(ValueError):
    """A command-line value that cannot work; the message names it and the fix."""


class NoDeviceError(ValueError):
    """A ``--device-dir`` that holds no device (or no release, for ``run``)."""


@dataclass(frozen=True)
class RunInputs:
    """What ``run`` reads from its options, checked.

    Attributes:
        source: The source, classified (and, for a file, opened once).
        gps: The GPS track, or None.
    """

    source: SourceSpec
    gps: GpsTrack | None


def check_device_dir(path: Path) -> None:
    """Refuse a ``--device-dir`` that is a file.

    Raises:
        UsageError: When ``path`` exists and is not a folder.
    """
    if path.exists() and not path.is_dir():
        raise UsageError(f"--device-dir {path}: a file, not a folder; pass the device folder")


def holds_device(layout: DeviceLayout) -> bool:
    """Return True when the folder is a device folder (provisioned, updated or run before)."""
    root = layout.root
    return root.is_dir() and (
        (root / STATE_FILE).is_file()
        or layout.tuf_dir.is_dir()
        or layout.releases.is_dir()
        or layout.current_link.is_symlink()
    )


def require_device(layout: DeviceLayout, *, release: bool = False) -> None:
    """Refuse a folder that holds no device, or (``release``) no installed release.

    Raises:
        NoDeviceError: With the command that sets the device up.
    """
    if not holds_device(layout):
        raise NoDeviceError(
            f"{layout.root}: holds no device; set one up with 'roadmark-edge update --repo URL "
            f"--device-dir {layout.root} --trusted-root root.json'"
        )
    if release and layout.current() is None:
        raise NoDeviceError(
            f"{layout.root}: no release installed; run 'roadmark-edge update' first"
        )


def _check_numbers(args: argparse.Namespace) -> None:
    rules = [
        ("--every-n", args.every_n, args.every_n >= 1, "1 (every frame) or more"),
        (
            "--max-frames",
            args.max_frames,
            args.max_frames is None or args.max_frames >= 1,
            "1 or more",
        ),
        ("--max-failed-starts", args.max_failed_starts, args.max_failed_starts >= 1, "1 or more"),
        (
            "--storage-share",
            args.storage_share,
            0.0 < args.storage_share <= 1.0,
            "in (0, 1], e.g. 0.5",
        ),
    ]
    for option, value, ok, wanted in rules:
        if not ok:
            raise UsageError(f"{option} {value}: must be {wanted}")


def _check_names(args: argparse.Namespace) -> None:
    problem = None if args.device_id is None else device_id_problem(args.device_id)
    if problem is not None:
        raise UsageError(f"--device-id {args.device_id!r}: {problem}")
    if args.inbox is not None:
        try:
            open_inbox(args.inbox).check()  # before it is used, counted or remembered
        except InboxError as exc:
            raise UsageError(f"--inbox {exc}") from exc
    if args.provider is not None:
        from jetson_runtime.session import provider_problem  # loads ONNX Runtime: only if asked

        problem = provider_problem(args.provider)
        if problem is not None:
            raise UsageError(f"--provider {args.provider}: cannot run here ({problem}); omit it")


def check_run_inputs(args: argparse.Namespace) -> RunInputs:
    """Check every option of ``run`` and open the source once; nothing is written.

    Raises:
        UsageError: A bad number, device id, inbox, provider or GPS track.
        SourceError: A source that does not parse, or a file that does not open as video.
    """
    _check_numbers(args)
    _check_names(args)
    try:
        gps = GpsTrack.from_csv(args.gps) if args.gps is not None else None
    except GpsError as exc:
        raise UsageError(f"--gps {exc}") from exc
    source = parse_source(args.source)
    if source.kind == "file":  # cameras and streams are opened by the run itself
        open_capture(source).release()
    return RunInputs(source, gps)
