"""YOLO decoding and NMS in numpy agree with the reference (case R15 and its kind).

torch, torchvision and ultralytics are imported here only, as the reference to compare with.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from jetson_runtime.postprocess import DecodeError, Detections, decode_yolo, nms
from jetson_runtime.preprocess import letterbox


def _reference(output: np.ndarray, conf: float, iou: float, agnostic: bool, max_det: int):
    import torch
    import torchvision  # noqa: F401  (the reference NMS is torchvision's when it is imported)
    from ultralytics.utils.nms import non_max_suppression

    (pred,) = non_max_suppression(
        torch.from_numpy(output), conf, iou, agnostic=agnostic, max_det=max_det
    )
    pred = pred.numpy()
    return pred[:, :4], pred[:, 4], pred[:, 5].astype(np.int64)


def _assert_same(ours: Detections, reference) -> None:
    xyxy, scores, class_ids = reference
    assert len(ours) == len(scores)
    np.testing.assert_allclose(ours.xyxy, xyxy, atol=1e-3)
    np.testing.assert_allclose(ours.scores, scores, atol=1e-6)
    np.testing.assert_array_equal(ours.class_ids, class_ids)


def _random_output(seed: int, num_classes: int, anchors: int, size: int) -> np.ndarray:
    """Clustered boxes (so NMS has work) with sparse high class scores."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, size, size=(12, 2))
    pick = rng.integers(0, 12, size=anchors)
    xy = centres[pick] + rng.normal(0, 6, size=(anchors, 2))
    wh = rng.uniform(8, 80, size=(anchors, 2))
    scores = rng.uniform(0, 1, size=(anchors, num_classes)) ** 6
    rows = np.concatenate([xy, wh, scores], axis=1).astype(np.float32)
    return rows.T[None].copy()


def test_r15_exact_detections(cases_dir: Path) -> None:
    output = np.load(cases_dir / "R15" / "raw_output_1x7x3549.npy")
    detections = decode_yolo(output, 0.25)

    assert len(detections) == 2
    np.testing.assert_array_equal(detections.class_ids, [2, 0])
    np.testing.assert_allclose(detections.scores, [0.88, 0.60], atol=1e-6)
    np.testing.assert_allclose(detections.xyxy, [[178, 130, 238, 170], [90, 290, 110, 310]])
    # Anchor 3000 peaks at 0.20 and must not appear even with a per-class list.
    assert output[0, 4:, 3000].max() == pytest.approx(0.20)
    assert len(decode_yolo(output, [0.25, 0.25, 0.25])) == 2
    assert len(decode_yolo(output, [0.25, 0.25, 0.19])) == 3


@pytest.mark.parametrize(
    ("seed", "num_classes", "anchors", "size", "conf", "iou", "agnostic", "max_det"),
    [
        (0, 6, 8400, 640, 0.25, 0.45, False, 300),  # our taxonomy at 640
        (1, 6, 8400, 640, 0.25, 0.45, True, 300),  # class-agnostic
        (2, 3, 3549, 416, 0.10, 0.70, False, 300),  # R15's layout, validator IoU
        (3, 1, 2100, 320, 0.05, 0.50, False, 300),  # one class
        (4, 80, 2100, 320, 0.50, 0.45, False, 300),  # many classes
        (5, 6, 8400, 640, 0.01, 0.45, False, 20),  # max_det cuts the list
    ],
)
def test_random_outputs_match_reference(
    seed: int,
    num_classes: int,
    anchors: int,
    size: int,
    conf: float,
    iou: float,
    agnostic: bool,
    max_det: int,
) -> None:
    output = _random_output(seed, num_classes, anchors, size)
    ours = decode_yolo(output, conf, iou=iou, agnostic=agnostic, max_det=max_det)
    assert len(ours) > 0
    _assert_same(ours, _reference(output, conf, iou, agnostic, max_det))


@pytest.fixture(scope="module")
def real_outputs(data_dir: Path) -> list[np.ndarray]:
    """Raw outputs of a (randomly initialised) yolo11n with our six classes on real frames."""
    import torch
    from ultralytics.nn.tasks import DetectionModel

    torch.manual_seed(0)
    model = DetectionModel("yolo11n.yaml", nc=6, verbose=False).eval()
    outputs = []
    for name in ("still_solidWhiteRight.jpg", "still_solidYellowLeft.jpg"):
        tensor, _ = letterbox(cv2.imread(str(data_dir / "stills" / name)), 320)
        with torch.no_grad():
            raw = model(torch.from_numpy(tensor))
        outputs.append((raw[0] if isinstance(raw, tuple | list) else raw).numpy())
    return outputs


@pytest.mark.parametrize("agnostic", [False, True])
def test_real_model_outputs_match_reference(real_outputs: list[np.ndarray], agnostic: bool) -> None:
    for output in real_outputs:
        assert output.shape == (1, 10, 2100)
        # An untrained head scores low: pick the threshold that lets ~400 anchors through.
        conf = float(np.quantile(output[0, 4:].max(axis=0), 0.8))
        ours = decode_yolo(output, conf, agnostic=agnostic)
        assert len(ours) > 0
        _assert_same(ours, _reference(output, conf, 0.45, agnostic, 300))


def test_per_class_thresholds_gate_each_class_on_its_own() -> None:
    output = _random_output(7, 6, 8400, 640)
    thresholds = [0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
    ours = decode_yolo(output, thresholds)

    # The same as the reference run on an output where anchors below their class's threshold
    # were silenced, with a threshold of 0.
    rows = output[0].T.copy()
    best = rows[:, 4:].argmax(axis=1)
    below = rows[np.arange(len(rows)), 4 + best] <= np.asarray(thresholds)[best]
    rows[below, 4:] = 0.0
    _assert_same(ours, _reference(rows.T[None].copy(), 0.0, 0.45, False, 300))
    assert np.all(ours.scores > np.asarray(thresholds)[ours.class_ids])


def test_uniform_list_equals_scalar() -> None:
    output = _random_output(8, 6, 2100, 320)
    a, b = decode_yolo(output, 0.3), decode_yolo(output, [0.3] * 6)
    np.testing.assert_array_equal(a.xyxy, b.xyxy)
    np.testing.assert_array_equal(a.class_ids, b.class_ids)


@pytest.mark.parametrize(
    "output",
    [
        np.zeros((1, 10, 8400), np.float32),  # nothing scores
        np.zeros((1, 10, 0), np.float32),  # no anchors at all
    ],
)
def test_empty_outputs_give_empty_detections(output: np.ndarray) -> None:
    detections = decode_yolo(output, 0.25)
    assert len(detections) == 0
    assert detections.xyxy.shape == (0, 4) and detections.xyxy.dtype == np.float32
    assert detections.class_ids.dtype == np.int64


def test_session_run_list_is_accepted() -> None:
    output = _random_output(9, 6, 2100, 320)
    a, b = decode_yolo([output], 0.3), decode_yolo(output, 0.3)
    np.testing.assert_array_equal(a.scores, b.scores)


@pytest.mark.parametrize(
    ("output", "conf", "message"),
    [
        (np.zeros((2, 10, 100), np.float32), 0.25, "batch size 1"),
        (np.zeros((1, 4, 100), np.float32), 0.25, "4\\+nc"),
        (np.zeros((10,), np.float32), 0.25, "4\\+nc"),
        (np.zeros((1, 10, 100), np.float32), [0.2, 0.3], "2 thresholds for a model with 6"),
        (np.zeros((1, 10, 100), np.float32), 1.5, "0..1"),
    ],
)
def test_bad_input_names_the_problem(output: np.ndarray, conf, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode_yolo(output, conf)


def test_nms_matches_torchvision_on_random_boxes() -> None:
    import torch
    import torchvision

    rng = np.random.default_rng(11)
    for _ in range(20):
        xy = rng.uniform(0, 200, size=(300, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(1, 60, size=(300, 2))], axis=1)
        scores = rng.uniform(0, 1, size=300).astype(np.float32)
        expected = torchvision.ops.nms(
            torch.from_numpy(boxes.astype(np.float32)), torch.from_numpy(scores), 0.5
        ).numpy()
        np.testing.assert_array_equal(nms(boxes.astype(np.float32), scores, 0.5), expected)


def test_boxes_wholly_in_the_padding_are_dropped_once_clipped() -> None:
    from jetson_runtime.preprocess import letterbox, unletterbox_xyxy

    _, lb = letterbox(np.zeros((360, 640, 3), np.uint8), 640)  # 140 grey rows above and below
    found = Detections(
        np.array([[10, 10, 50, 100], [10, 200, 50, 300]], np.float32),  # the first: in padding
        np.array([0.9, 0.8], np.float32),
        np.array([0, 1], np.int64),
    )
    found.xyxy = unletterbox_xyxy(found.xyxy, lb)
    kept = found.with_area()
    assert len(kept) == 1 and kept.class_ids.tolist() == [1]


def _same_detections(a: Detections, b: Detections) -> None:
    np.testing.assert_array_equal(a.xyxy, b.xyxy)
    np.testing.assert_array_equal(a.scores, b.scores)
    np.testing.assert_array_equal(a.class_ids, b.class_ids)


@pytest.mark.parametrize("num_classes", [None, 3])
def test_r15_transposed_gives_the_same_two_detections(
    cases_dir: Path, num_classes: int | None
) -> None:
    channels_first = np.load(cases_dir / "R15" / "raw_output_1x7x3549.npy")
    anchors_first = channels_first.transpose(0, 2, 1).copy()  # (1, 3549, 7)
    assert anchors_first.shape == (1, 3549, 7)

    detections = decode_yolo(anchors_first, 0.25, num_classes=num_classes)

    assert detections.class_ids.tolist() == [2, 0]
    np.testing.assert_allclose(detections.scores, [0.88, 0.60], atol=1e-6)
    np.testing.assert_allclose(detections.xyxy, [[178, 130, 238, 170], [90, 290, 110, 310]])
    _same_detections(detections, decode_yolo(channels_first, 0.25, num_classes=num_classes))


@pytest.mark.parametrize(
    ("seed", "num_classes", "anchors"),
    [(0, 6, 8400), (3, 1, 2100), (4, 80, 2100)],
)
@pytest.mark.parametrize("known", [False, True])
def test_every_layout_gives_identical_detections(
    seed: int, num_classes: int, anchors: int, known: bool
) -> None:
    output = _random_output(seed, num_classes, anchors, 640)  # (1, 4+nc, anchors)
    hint = num_classes if known else None
    expected = decode_yolo(output, 0.25, num_classes=hint)
    assert len(expected) > 0
    for layout in (output.transpose(0, 2, 1).copy(), output[0], output[0].T.copy(), [output]):
        _same_detections(decode_yolo(layout, 0.25, num_classes=hint), expected)


def test_class_count_decides_a_layout_the_sizes_cannot() -> None:
    # 90 classes on 20 anchors: more channels than anchors, so only the class count can tell.
    output = _random_output(12, 90, 20, 320)  # (1, 94, 20)
    expected = decode_yolo(output, 0.01, num_classes=90)
    assert len(expected) > 0
    _same_detections(decode_yolo(output.transpose(0, 2, 1), 0.01, num_classes=90), expected)


@pytest.mark.parametrize("shape", [(1, 3549, 7), (1, 7, 3549), (3549, 7)])
def test_an_output_without_the_expected_channels_is_refused(shape: tuple[int, ...]) -> None:
    with pytest.raises(DecodeError, match=r"shape \(.*\).*10 channels.*6 classes"):
        decode_yolo(np.zeros(shape, np.float32), 0.25, num_classes=6)


def test_empty_transposed_output_gives_empty_detections() -> None:
    assert len(decode_yolo(np.zeros((1, 0, 10), np.float32), 0.25)) == 0
    assert len(decode_yolo(np.zeros((1, 0, 10), np.float32), 0.25, num_classes=6)) == 0


class _FakeSession:
    """Stands in for ONNX Runtime: returns one fixed raw output, as ``session.run`` would."""

    provider = "cpu"

    def __init__(self, output: np.ndarray) -> None:
        self.output = output

    def run(self, tensor: np.ndarray) -> list[np.ndarray]:
        return [self.output]


def _detector(output: np.ndarray, class_names: tuple[str, ...]):
    from types import SimpleNamespace

    from jetson_runtime.bundle import RuntimeConfig
    from jetson_runtime.detector import Detector

    config = RuntimeConfig("m1", 416, class_names, (0.25,) * len(class_names))
    return Detector(SimpleNamespace(config=config), _FakeSession(output))


def test_the_detector_reads_a_transposed_export_with_its_classes(cases_dir: Path) -> None:
    output = np.load(cases_dir / "R15" / "raw_output_1x7x3549.npy")
    frame = np.zeros((416, 416, 3), np.uint8)  # the model's own size: no letterbox padding
    names = ("solid", "dashed", "arrow")

    found, _ = _detector(output.transpose(0, 2, 1).copy(), names)(frame)

    assert found.class_ids.tolist() == [2, 0]
    np.testing.assert_allclose(found.xyxy, [[178, 130, 238, 170], [90, 290, 110, 310]])
    with pytest.raises(DecodeError, match=r"\(1, 3549, 7\).*10 channels.*6 classes"):
        _detector(output.transpose(0, 2, 1).copy(), (*names, "a", "b", "c"))(frame)
