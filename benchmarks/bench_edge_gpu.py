"""The one prepared device check for a GPU machine (onnxruntime-gpu and a CUDA GPU present).

Prints the providers and what the runtime probes, then runs the GPU tests (provider choice,
TensorRT engine cache keyed and reused, health check on the GPU against CPU expectations) and
the edge benchmark on the best provider. Writes only under .roadmark/ and the temp folder.

    python benchmarks/bench_edge_gpu.py
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    sys.path.insert(0, str(ROOT))
    import onnxruntime as ort

    from jetson_runtime.session import probe_host

    print("providers", ort.get_available_providers())
    print("host", probe_host())
    tests = [sys.executable, "-m", "pytest", "-m", "gpu", "tests/release/test_gpu.py", "-q", "-s",
             "-p", "no:cacheprovider"]  # fmt: skip
    return subprocess.run(tests, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
