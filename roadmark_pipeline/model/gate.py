"""The promotion gate: a candidate replaces the production model only if it is not worse.

Both models must have been evaluated on the same test set (same frames, same ground truth,
checked by the evaluations' fingerprints). The candidate is promoted when its overall mAP50
does not drop and no class's AP50 drops by more than the tolerance. Every reason for the
decision is kept, for the asset check and the release notes.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from roadmark_pipeline.model.evaluation import Evaluation

LOG = logging.getLogger(__name__)

DEFAULT_CLASS_TOLERANCE = 0.02


@dataclass
class GateDecision:
    """The gate's verdict.

    Attributes:
        promote: True when the candidate may replace production.
        reasons: Why, one sentence each (blocking reasons first).
        candidate_map50: The candidate's mAP50.
        production_map50: Production's mAP50 (None without a production model).
        class_deltas: Per class: candidate AP50, production AP50, delta, allowed, ok.
    """

    promote: bool
    reasons: list[str]
    candidate_map50: float
    production_map50: float | None
    class_deltas: pd.DataFrame = field(default_factory=pd.DataFrame)

    def to_dict(self) -> dict[str, Any]:
        """Return the decision as plain values."""
        return {
            "promote": self.promote,
            "reasons": list(self.reasons),
            "candidate_map50": self.candidate_map50,
            "production_map50": self.production_map50,
            "class_deltas": self.class_deltas.reset_index().to_dict(orient="records"),
        }


def class_deltas(candidate: Evaluation, production: Evaluation, tolerance: float) -> pd.DataFrame:
    """Compare AP50 class by class over the classes both evaluations could measure."""
    rows = {}
    for name in candidate.class_names:
        new = float(candidate.per_class.at[name, "ap50"])
        old = (
            float(production.per_class.at[name, "ap50"])
            if name in production.per_class.index
            else math.nan
        )
        if math.isnan(new) or math.isnan(old):
            continue
        delta = new - old
        rows[name] = {
            "candidate_ap50": new,
            "production_ap50": old,
            "delta": delta,
            "allowed": -tolerance,
            "ok": delta >= -tolerance - 1e-12,
        }
    table = pd.DataFrame.from_dict(
        rows,
        orient="index",
        columns=["candidate_ap50", "production_ap50", "delta", "allowed", "ok"],
    )
    table.index.name = "class"
    return table


def gate(
    candidate: Evaluation,
    production: Evaluation | None,
    tolerance: float = DEFAULT_CLASS_TOLERANCE,
) -> GateDecision:
    """Decide whether the candidate may replace the production model.

    Args:
        candidate: The candidate's evaluation.
        production: Production's evaluation on the same test set; None when nothing is in
            production yet.
        tolerance: Largest AP50 drop allowed for any single class.

    Returns:
        The decision with its reasons.
    """
    if math.isnan(candidate.map50):
        return _decide(
            False,
            ["candidate has no score: the test set holds no ground truth"],
            candidate,
            production,
        )
    if production is None:
        return _decide(
            True, ["no production model yet: the first candidate is promoted"], candidate, None
        )
    if candidate.test_fingerprint != production.test_fingerprint:
        return _decide(
            False,
            [
                f"evaluated on different test sets (fingerprints {candidate.test_fingerprint} vs "
                f"{production.test_fingerprint}); re-evaluate production on the candidate's "
                "test version before gating"
            ],
            candidate,
            production,
        )

    deltas = class_deltas(candidate, production, tolerance)
    blocking, passing = [], []
    drop = candidate.map50 - production.map50
    if drop < -1e-12:
        blocking.append(
            f"overall mAP50 drops {production.map50:.4f} -> {candidate.map50:.4f} ({drop:+.4f})"
        )
    else:
        passing.append(
            f"overall mAP50 {production.map50:.4f} -> {candidate.map50:.4f} ({drop:+.4f})"
        )
    for name, row in deltas.iterrows():
        if not row["ok"]:
            blocking.append(
                f"{name} AP50 drops {row['production_ap50']:.4f} -> {row['candidate_ap50']:.4f} "
                f"({row['delta']:+.4f}, tolerance {tolerance:.3f})"
            )
    if not blocking:
        passing.append(f"no class drops by more than {tolerance:.3f} ({len(deltas)} compared)")
    decision = _decide(not blocking, blocking + passing, candidate, production)
    decision.class_deltas = deltas
    return decision


def _decide(
    promote: bool, reasons: list[str], candidate: Evaluation, production: Evaluation | None
) -> GateDecision:
    (LOG.info if promote else LOG.warning)(
        "promotion gate: %s (%s)", "PROMOTE" if promote else "BLOCK", "; ".join(reasons)
    )
    return GateDecision(
        promote=promote,
        reasons=reasons,
        candidate_map50=float(candidate.map50),
        production_map50=None if production is None else float(production.map50),
    )
