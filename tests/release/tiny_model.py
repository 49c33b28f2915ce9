"""A tiny, deterministic YOLO-layout detector built with the ONNX helper API.

Output (1, 4 + nc, G*G): one anchor per cell of a G x G grid, a fixed box 1.5 cells wide centred
on its cell, and per class a sigmoid of a 1x1 convolution of the cell's mean colour. Class 0
("white_line") lights up on bright cells and class 2 ("yellow_line") on yellow ones, so real
road frames give real detections, and a changed weight gives different ones.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def class_weights(num_classes: int, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    weights = np.zeros((num_classes, 3, 1, 1), np.float32)
    bias = np.full((num_classes,), -8.0, np.float32)
    weights[0, :, 0, 0] = 3.0 * scale  # bright: R+G+B high (RGB input)
    bias[0] = -6.2
    if num_classes > 2:
        weights[2, :, 0, 0] = [6.0 * scale, 6.0 * scale, -9.0 * scale]  # yellow: R, G high, B low
        bias[2] = -3.6
    return weights, bias


def build_tiny_detector(
    path: Path, size: int = 160, grid: int = 10, num_classes: int = 6, scale: float = 1.0
) -> Path:
    cell = size // grid
    centres = (np.arange(grid, dtype=np.float32) + 0.5) * cell
    cy, cx = np.meshgrid(centres, centres, indexing="ij")
    boxes = np.stack(
        [cx.ravel(), cy.ravel(), np.full(grid * grid, 1.5 * cell), np.full(grid * grid, 1.5 * cell)]
    ).astype(np.float32)[None]
    weights, bias = class_weights(num_classes, scale)

    nodes = [
        helper.make_node(
            "AveragePool", ["images"], ["pooled"], kernel_shape=[cell, cell], strides=[cell, cell]
        ),
        helper.make_node("Conv", ["pooled", "W", "B"], ["logits"]),
        helper.make_node("Sigmoid", ["logits"], ["probs"]),
        helper.make_node("Reshape", ["probs", "flat_shape"], ["scores"]),
        helper.make_node("Concat", ["boxes", "scores"], ["output0"], axis=1),
    ]
    initializers = [
        numpy_helper.from_array(weights, "W"),
        numpy_helper.from_array(bias, "B"),
        numpy_helper.from_array(boxes, "boxes"),
        numpy_helper.from_array(np.array([1, num_classes, grid * grid], np.int64), "flat_shape"),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_detector",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [
            helper.make_tensor_value_info(
                "output0", TensorProto.FLOAT, [1, 4 + num_classes, grid * grid]
            )
        ],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path
