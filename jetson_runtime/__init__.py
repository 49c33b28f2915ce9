"""roadmark's edge runtime: runs a released detector on a Jetson (or any ONNX Runtime host).

It depends only on numpy, OpenCV, ONNX Runtime, tuf and the standard library, and never imports
the pipeline, Dagster or torch.
"""

__version__ = "0.1.0"
