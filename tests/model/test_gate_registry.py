"""The promotion gate and the production pointer with its history."""

from __future__ import annotations

import json
import threading

import pandas as pd
import pytest

from roadmark_pipeline.model.evaluation import Evaluation, evaluate_detections
from roadmark_pipeline.model.gate import gate
from roadmark_pipeline.model.registry import ModelRegistry, RegistryError

NAMES = ("white_line", "guardrail", "crosswalk")
BOX = ["frame_id", "class_id", "x1", "y1", "x2", "y2"]
TRUTH = pd.DataFrame(
    [(f"f{i}", i % 2, 0, 0, 10, 10) for i in range(10)] + [("f0", 0, 20, 20, 30, 30)], columns=BOX
)
FRAMES = pd.DataFrame({"frame_id": [f"f{i}" for i in range(10)]})


def model(found_lines: int, found_rails: int, truth: pd.DataFrame = TRUTH) -> Evaluation:
    """An evaluation where the first n lines / rails are found (score 0.9), the rest missed."""
    rows = []
    lines = truth[truth["class_id"] == 0].head(found_lines)
    rails = truth[truth["class_id"] == 1].head(found_rails)
    for _, box in pd.concat([lines, rails]).iterrows():
        rows.append((*box[BOX], 0.9))
    preds = pd.DataFrame(rows, columns=[*BOX, "score"])
    return evaluate_detections(truth, preds, FRAMES, NAMES)


@pytest.mark.parametrize(
    ("candidate", "production", "tolerance", "promote", "reason"),
    [
        # First model ever: nothing to compare with.
        ((3, 3), None, 0.02, True, "no production model"),
        # Better everywhere.
        ((6, 5), (3, 3), 0.02, True, "no class drops"),
        # Overall mAP drops.
        ((2, 2), (3, 3), 0.02, False, "overall mAP50 drops"),
        # Overall better, but guardrail drops 0.2 > 0.02.
        ((6, 2), (2, 3), 0.02, False, "guardrail AP50 drops"),
        # Same trade with a tolerance that allows it.
        ((6, 2), (2, 3), 0.25, True, "no class drops"),
        # Identical models: not a drop.
        ((3, 3), (3, 3), 0.0, True, "no class drops"),
    ],
)
def test_gate_decisions(candidate, production, tolerance, promote, reason):
    old = model(*production) if production else None
    decision = gate(model(*candidate), old, tolerance=tolerance)
    assert decision.promote is promote
    assert any(reason in text for text in decision.reasons)
    if old is not None:
        assert set(decision.class_deltas.index) == {"white_line", "guardrail"}  # crosswalk: NaN


def test_gate_refuses_models_scored_on_different_test_sets():
    other_truth = TRUTH.assign(x2=TRUTH["x2"] + 1)
    decision = gate(model(6, 5), model(3, 3, other_truth))
    assert not decision.promote and "different test sets" in decision.reasons[0]


def test_gate_blocks_a_candidate_without_score():
    empty = evaluate_detections(
        TRUTH.iloc[0:0], pd.DataFrame(columns=[*BOX, "score"]), FRAMES, NAMES
    )
    assert not gate(empty, None).promote


def test_evaluation_round_trips_through_json():
    original = model(4, 2)
    again = Evaluation.from_dict(json.loads(json.dumps(original.to_dict())))
    assert again.map50 == pytest.approx(original.map50)
    assert again.test_fingerprint == original.test_fingerprint
    pd.testing.assert_frame_equal(again.ap_table, original.ap_table, check_names=False)
    assert gate(model(4, 2), again).promote


def weights(tmp_path, name: str) -> str:
    path = tmp_path / f"{name}.pt"
    path.write_bytes(name.encode() * 10)
    return path


def test_registry_promotes_keeps_history_and_rolls_back(tmp_path):
    registry = ModelRegistry(tmp_path / "registry")
    assert registry.production() is None and registry.production_evaluation() is None

    first = model(3, 3)
    first.dataset_version = "v1"
    entry = registry.promote(weights(tmp_path, "a"), first, gate(first, None), model_id="a")
    assert registry.production().model_id == "a" and entry.previous is None
    assert registry.production_evaluation().map50 == pytest.approx(first.map50)

    second = model(6, 5)
    decision = gate(second, registry.production_evaluation())
    registry.promote(weights(tmp_path, "b"), second, decision, model_id="b")
    assert registry.production().model_id == "b" and registry.production().previous == "a"

    worse = model(1, 1)
    blocked = gate(worse, registry.production_evaluation())
    with pytest.raises(RegistryError, match="blocked"):
        registry.promote(weights(tmp_path, "c"), worse, blocked, model_id="c")
    assert registry.production().model_id == "b"  # a blocked candidate moves nothing

    back = registry.rollback("field reports from canary")
    assert back.model_id == "a" and back.action == "rollback"
    assert [(e.model_id, e.action) for e in registry.history()] == [
        ("a", "promote"),
        ("b", "promote"),
        ("a", "rollback"),
    ]
    stored = tmp_path / "registry" / "models" / "b" / "best.pt"
    assert stored.read_bytes() == b"b" * 10  # the registry keeps its own copy


def test_rollback_without_predecessor(tmp_path):
    registry = ModelRegistry(tmp_path)
    with pytest.raises(RegistryError, match="nothing to roll back"):
        registry.rollback("oops")


def test_concurrent_promotions_leave_a_whole_pointer_and_full_history(tmp_path):
    registry = ModelRegistry(tmp_path / "registry")
    evaluation = model(3, 3)
    decision = gate(evaluation, None)
    files = {name: weights(tmp_path, name) for name in "abcdef"}

    def promote(name):
        ModelRegistry(tmp_path / "registry").promote(
            files[name], evaluation, decision, model_id=name
        )

    threads = [threading.Thread(target=promote, args=(name,)) for name in files]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    history = registry.history()
    assert sorted(entry.model_id for entry in history) == sorted(files)
    assert registry.production().model_id == history[-1].model_id
    assert not list((tmp_path / "registry").glob(".*.tmp"))
