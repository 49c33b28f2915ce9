"""The production pointer: which model the fleet gets, moved atomically, with its history.

Layout under the registry root (e.g. ``<lake>/registry``)::

    models/<model id>/best.pt, model.onnx, evaluation.json   copied in once, never changed
    history/<000001>-<model id>.json                          one record per move, never changed
    production.json                                           the pointer, replaced atomically

A reader of ``production.json`` sees the old pointer or the new one, never a mix, and every
move (promotion or rollback) leaves a record of what was in production before.
"""

from __future__ import annotations

import fcntl
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from roadmark_pipeline.ids import sha256_file
from roadmark_pipeline.lake import copy_file_atomic, write_json_atomic
from roadmark_pipeline.model.evaluation import Evaluation
from roadmark_pipeline.model.gate import GateDecision

LOG = logging.getLogger(__name__)

POINTER = "production.json"


class RegistryError(RuntimeError):
    """The registry cannot make the requested move."""


@dataclass
class ModelEntry:
    """One model as the registry records it.

    Attributes:
        model_id: Stable id (the weights' sha256 prefix unless given).
        weights: The registry's copy of the ``.pt`` file.
        onnx: The registry's copy of the ONNX export, when given.
        dataset_version: The dataset version it was evaluated on.
        map50: Its test mAP50.
        moved_at: When the pointer moved to it (UTC, ISO 8601).
        action: ``"promote"`` or ``"rollback"``.
        previous: The model id in production before this move.
        reasons: The gate's reasons or the rollback note.
    """

    model_id: str
    weights: str
    onnx: str | None
    dataset_version: str
    map50: float
    moved_at: str
    action: str
    previous: str | None
    reasons: list[str]

    def to_dict(self) -> dict[str, Any]:
        """Return the entry as plain values."""
        return asdict(self)


class ModelRegistry:
    """The production pointer and its history in one folder.

    Args:
        root: The registry folder (created when missing).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise moves between processes sharing this folder."""
        with open(self.root / ".lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def production(self) -> ModelEntry | None:
        """Return the model in production, or None before the first promotion."""
        pointer = self.root / POINTER
        if not pointer.is_file():
            return None
        return ModelEntry(**json.loads(pointer.read_text("utf-8")))

    def production_evaluation(self) -> Evaluation | None:
        """Return the stored evaluation of the production model (for the gate)."""
        entry = self.production()
        if entry is None:
            return None
        path = self.root / "models" / entry.model_id / "evaluation.json"
        return Evaluation.from_dict(json.loads(path.read_text("utf-8")))

    def history(self) -> list[ModelEntry]:
        """Return every pointer move, oldest first."""
        folder = self.root / "history"
        if not folder.is_dir():
            return []
        return [
            ModelEntry(**json.loads(path.read_text("utf-8")))
            for path in sorted(folder.glob("*.json"))
        ]

    def _store_model(
        self, model_id: str, weights: Path, onnx: Path | None, evaluation: Evaluation
    ) -> tuple[Path, Path | None]:
        """Copy the model files in once; an id already stored is left as it is."""
        folder = self.root / "models" / model_id
        if not (folder / "evaluation.json").is_file():
            folder.mkdir(parents=True, exist_ok=True)
            copy_file_atomic(weights, folder / "best.pt")
            if onnx is not None:
                copy_file_atomic(onnx, folder / "model.onnx")
            write_json_atomic(folder / "evaluation.json", evaluation.to_dict())
        onnx_copy = folder / "model.onnx"
        return folder / "best.pt", onnx_copy if onnx_copy.is_file() else None

    def _move(self, entry: ModelEntry) -> ModelEntry:
        """Record the move in the history, then swap the pointer (both atomic writes)."""
        folder = self.root / "history"
        folder.mkdir(exist_ok=True)
        sequence = len(list(folder.glob("*.json"))) + 1
        write_json_atomic(folder / f"{sequence:06d}-{entry.model_id}.json", entry.to_dict())
        write_json_atomic(self.root / POINTER, entry.to_dict())
        LOG.info("production -> %s (%s, was %s)", entry.model_id, entry.action, entry.previous)
        return entry

    def promote(
        self,
        weights: Path,
        evaluation: Evaluation,
        decision: GateDecision,
        *,
        onnx: Path | None = None,
        model_id: str | None = None,
    ) -> ModelEntry:
        """Point production at a candidate the gate accepted.

        Args:
            weights: The candidate's ``.pt`` file.
            evaluation: Its evaluation (stored so the next candidate is gated against it).
            decision: The gate's decision; a blocked decision is refused.
            onnx: Its ONNX export, when there is one.
            model_id: Id to record; the weights' sha256 prefix when omitted.

        Returns:
            The new production entry.

        Raises:
            RegistryError: When the decision says not to promote or a file is missing.
        """
        if not decision.promote:
            raise RegistryError(f"the gate blocked this candidate: {'; '.join(decision.reasons)}")
        for path in (weights, onnx):
            if path is not None and not Path(path).is_file():
                raise RegistryError(f"{path}: file missing; pass the candidate's files")
        model_id = model_id or sha256_file(weights)[:16]
        with self._locked():
            current = self.production()
            stored_weights, stored_onnx = self._store_model(
                model_id, Path(weights), onnx and Path(onnx), evaluation
            )
            entry = ModelEntry(
                model_id=model_id,
                weights=str(stored_weights),
                onnx=str(stored_onnx) if stored_onnx else None,
                dataset_version=evaluation.dataset_version,
                map50=float(evaluation.map50),
                moved_at=_now(),
                action="promote",
                previous=current.model_id if current else None,
                reasons=list(decision.reasons),
            )
            return self._move(entry)

    def rollback(self, note: str) -> ModelEntry:
        """Point production back at the model that was there before the current one.

        Args:
            note: Why (kept in the history).

        Returns:
            The new production entry.

        Raises:
            RegistryError: When there is no earlier model to return to, or the history lacks it.
        """
        with self._locked():
            current = self.production()
            if current is None or current.previous is None:
                raise RegistryError("nothing to roll back to: production has no predecessor")
            earlier = next(
                (e for e in reversed(self.history()) if e.model_id == current.previous), None
            )
            if earlier is None:
                raise RegistryError(
                    f"{self.root}: the history holds no entry for {current.previous}, the model "
                    "before production; restore history/ from a backup before rolling back"
                )
            entry = ModelEntry(
                **{
                    **earlier.to_dict(),
                    "moved_at": _now(),
                    "action": "rollback",
                    "previous": current.model_id,
                    "reasons": [note],
                }
            )
            return self._move(entry)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
