"""roadmark's edge runtime: runs a released detector on a Jetson (or any ONNX Runtime host).

It depends only on numpy, OpenCV, ONNX Runtime, tuf and the standard library, and never imports
the pipeline, Dagster or torch.
"""

import os

__version__ = "0.1.0"

# ONNX Runtime's official builds start a usage-telemetry uploader as the library loads, and it
# writes a device id and an event database under ~/.cache/Microsoft/. Its Privacy.md names one
# switch that acts before that load: ORT_DISABLE_TELEMETRY=1. It is set here, ahead of any import
# of onnxruntime by this package; a value already in the environment is left as it is.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
