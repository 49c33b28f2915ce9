"""Software metrics of the running process: CPU share, resident memory, GPU load.

Standard library only: CPU time from ``time.process_time``, memory from ``/proc/self/statm``
(or the peak from ``resource`` where /proc is missing), GPU load from the Jetson's sysfs node.
psutil is not needed; a value that cannot be read is NaN, never a guess.
"""

from __future__ import annotations

import functools
import math
import os
import resource
import time
from pathlib import Path

JETSON_GPU_LOAD = (
    Path("/sys/devices/gpu.0/load"),
    Path("/sys/devices/platform/gpu.0/load"),
    Path("/sys/devices/platform/bus@0/17000000.gpu/load"),
)


class ProcessMeter:
    """Measures this process's CPU share between two calls, and its memory."""

    def __init__(self) -> None:
        self._last_cpu = self._cpu_seconds()
        self._last_wall = time.perf_counter()
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

    @staticmethod
    def _cpu_seconds() -> float:
        return time.process_time()

    def cpu_percent(self) -> float:
        """Return CPU time used since the previous call as a share of one core, in percent."""
        cpu, wall = self._cpu_seconds(), time.perf_counter()
        spent, elapsed = cpu - self._last_cpu, wall - self._last_wall
        self._last_cpu, self._last_wall = cpu, wall
        return 100.0 * spent / elapsed if elapsed > 0 else math.nan

    def mem_mb(self) -> float:
        """Return the resident memory in MiB (the peak where /proc is missing)."""
        try:
            pages = int(Path("/proc/self/statm").read_text().split()[1])
            return pages * self._page / 2**20
        except (OSError, IndexError, ValueError):
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


@functools.cache
def _gpu_load_node() -> Path | None:
    return next((node for node in JETSON_GPU_LOAD if node.is_file()), None)


def gpu_percent() -> float:
    """Return the Jetson GPU load in percent, NaN when the host does not expose it."""
    node = _gpu_load_node()
    if node is None:
        return math.nan
    try:
        return int(node.read_text().strip()) / 10.0
    except (OSError, ValueError):
        return math.nan
