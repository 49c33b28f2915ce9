"""A release slot's own runtime: unpack its wheel, run it, and health-check the slot with it."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from jetson_runtime.ota_steps import CRASH_ENV, UpdateError
from jetson_runtime.slots import BUNDLE_DIR, RUNTIME_DIR, DeviceLayout

IN_SLOT_ENV = "ROADMARK_EDGE_IN_SLOT"
HEALTH_TIMEOUT_S = 900

# Puts the slot's runtime first on sys.path, ahead of the working directory that ``-m`` would
# put there (a checkout of the runtime in the working directory must not shadow the slot's).
_SLOT_BOOT = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); "
    "from jetson_runtime.cli import main; sys.exit(main(sys.argv[1:]))"
)


def install_runtime(wheel: Path, target: Path) -> None:
    """Unpack a pure-Python runtime wheel into ``target`` (a new slot's ``runtime/``).

    Raises:
        UpdateError: When the wheel is unreadable or holds a path outside its folder.
    """
    try:
        with zipfile.ZipFile(wheel) as archive:
            names = archive.namelist()
            for name in names:
                if Path(name).is_absolute() or ".." in Path(name).parts:
                    raise UpdateError("invalid", f"{wheel.name}: member {name!r} escapes; refused")
            if not any(n.startswith("jetson_runtime/") for n in names):
                raise UpdateError("invalid", f"{wheel.name}: holds no jetson_runtime package")
            archive.extractall(target)
    except zipfile.BadZipFile as exc:
        raise UpdateError("invalid", f"{wheel.name}: not a wheel ({exc})") from exc


def slot_command(slot: Path, args: list[str]) -> list[str]:
    """Return the command that runs ``roadmark-edge args`` with the runtime installed in ``slot``.

    A slot without a runtime of its own (a bundle shipped without a wheel) runs this runtime.
    """
    runtime = slot / RUNTIME_DIR
    if (runtime / "jetson_runtime").is_dir():
        return [sys.executable, "-c", _SLOT_BOOT, str(runtime), *args]
    return [sys.executable, "-m", "jetson_runtime.cli", *args]


def slot_env() -> dict[str, str]:
    """Return the environment of a slot's runtime: marked as started, crash hooks removed.

    ONNX Runtime's telemetry stays off in it (``ORT_DISABLE_TELEMETRY``), also for releases
    whose runtime predates the switch in :mod:`jetson_runtime`; an explicit value is kept.
    """
    env = dict(os.environ)
    env[IN_SLOT_ENV] = "1"
    env.setdefault("ORT_DISABLE_TELEMETRY", "1")
    env.pop(CRASH_ENV, None)
    return env


def run_health_check(slot: Path, layout: DeviceLayout, timeout: float = HEALTH_TIMEOUT_S) -> None:
    """Run the slot's probe frames with the slot's own runtime, in a child process.

    Raises:
        UpdateError: When the check fails, crashes or does not finish in time.
    """
    args = ["health", "--bundle", str(slot / BUNDLE_DIR), "--device-dir", str(layout.root)]
    command = slot_command(slot, args)
    try:
        done = subprocess.run(
            command, env=slot_env(), capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        raise UpdateError("unhealthy", f"health check of {slot.name} timed out") from exc
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-6:]
        raise UpdateError("unhealthy", f"health check of {slot.name} failed: " + " | ".join(tail))
