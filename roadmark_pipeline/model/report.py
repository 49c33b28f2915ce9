"""Everything the evaluation asset shows, built in one call and written as files.

The report bundles the AP table at the class-score thresholds, per-class summary, chosen
thresholds, per-slice scores, the error-analysis table, the confusion table and PR-curve
images, so the Dagster asset only has to attach them as metadata.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from roadmark_pipeline.lake import write_json_atomic, write_text_atomic
from roadmark_pipeline.model.breakdown import DEFAULT_HUMAN_LEVEL, error_analysis, slice_metrics
from roadmark_pipeline.model.confusion import confusion_table, top_confusions
from roadmark_pipeline.model.datacard import markdown_table
from roadmark_pipeline.model.evaluation import Evaluation, evaluate_detections
from roadmark_pipeline.model.plots import plot_pr_curves
from roadmark_pipeline.model.thresholds import choose_class_thresholds, thresholds_for_runtime

LOG = logging.getLogger(__name__)


@dataclass
class DetectorReport:
    """The evaluation of one model on one test set, with every breakdown.

    Attributes:
        evaluation: AP table, mAP, per-class summary, curves.
        thresholds: Per-class score thresholds and the rule that chose each.
        slices: Scores per slice (from ``slice_metrics``).
        errors: The error-analysis table (priority = gap x share, sorted).
        confusion: True class x predicted class counts at the chosen thresholds.
        confusions: Largest off-diagonal confusions.
        plots: ``"all"`` and class name -> PR-curve PNG.
        files: Name -> path of every file written.
    """

    evaluation: Evaluation
    thresholds: pd.DataFrame
    slices: pd.DataFrame
    errors: pd.DataFrame
    confusion: pd.DataFrame
    confusions: pd.DataFrame
    plots: dict[str, Path] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)

    def runtime_thresholds(self) -> list[float]:
        """Per-class thresholds in class-id order, as ``runtime.json`` stores them."""
        return thresholds_for_runtime(self.thresholds)

    def to_markdown(self) -> str:
        """Return the tables as one Markdown page."""
        sections = [
            ("AP50 per class at class-score thresholds", self.evaluation.ap_table),
            ("Per class", self.evaluation.per_class),
            ("Chosen thresholds", self.thresholds),
            ("Per slice", _by_slice(self.slices)),
            ("Error analysis (priority = gap x share)", _by_slice(self.errors)),
            ("Confusion (rows true, columns predicted)", self.confusion),
        ]
        lines = [
            f"# Detector evaluation: mAP50 {self.evaluation.map50:.4f}, "
            f"mAP50-95 {self.evaluation.map50_95:.4f}, {self.evaluation.n_frames} frames",
        ]
        for title, table in sections:
            lines += ["", f"## {title}", "", markdown_table(table)]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """Return the headline values for metadata."""
        return {
            **self.evaluation.summary(),
            "thresholds": dict(zip(self.thresholds.index, self.runtime_thresholds(), strict=True)),
            "top_priority": self.errors.head(3).to_dict(orient="records"),
        }


def _by_slice(table: pd.DataFrame) -> pd.DataFrame:
    """Index a per-slice table by (slice, value) for display."""
    if {"slice", "value"} <= set(table.columns):
        return table.set_index(["slice", "value"])
    return table


def build_report(
    ground_truth: pd.DataFrame,
    predictions: pd.DataFrame,
    frames: pd.DataFrame,
    class_names: Sequence[str],
    *,
    out_dir: Path | None = None,
    agreement: pd.Series | None = None,
    human_level: float = DEFAULT_HUMAN_LEVEL,
    target_precision: float | None = None,
    dataset_version: str = "",
) -> DetectorReport:
    """Evaluate, break down by slice, choose thresholds and (optionally) write it all out.

    Args:
        ground_truth: Test boxes.
        predictions: Test predictions with ``score`` (low confidence, e.g. 0.001).
        frames: Test frames with slice columns.
        class_names: Taxonomy order.
        out_dir: When given, receives ``report.md``, ``evaluation.json``, the tables as CSV
            and the PR-curve PNGs.
        agreement: frame_id -> annotator agreement, for the human-level estimate.
        human_level: Configured human level where no agreement is known.
        target_precision: Choose thresholds for this precision instead of best F1.
        dataset_version: Recorded in the evaluation (the gate compares like with like).

    Returns:
        The report.
    """
    evaluation = evaluate_detections(ground_truth, predictions, frames, class_names)
    evaluation.dataset_version = dataset_version
    thresholds = choose_class_thresholds(evaluation, target_precision=target_precision)
    slices = slice_metrics(ground_truth, predictions, frames, class_names)
    errors = error_analysis(slices, frames, agreement=agreement, human_level=human_level)
    chosen = dict(zip(thresholds.index, thresholds["threshold"], strict=True))
    confusion = confusion_table(ground_truth, predictions, frames, class_names, conf=chosen)
    report = DetectorReport(
        evaluation=evaluation,
        thresholds=thresholds,
        slices=slices,
        errors=errors,
        confusion=confusion,
        confusions=top_confusions(confusion),
    )
    if out_dir is not None:
        _write(report, Path(out_dir))
    return report


def _write(report: DetectorReport, out_dir: Path) -> None:
    """Write the report's files (each atomically)."""
    report.plots = plot_pr_curves(report.evaluation, out_dir / "pr_curves")
    tables = {
        "ap_table": report.evaluation.ap_table,
        "per_class": report.evaluation.per_class,
        "thresholds": report.thresholds,
        "slices": report.slices,
        "error_analysis": report.errors,
        "confusion": report.confusion,
    }
    for name, table in tables.items():
        path = out_dir / f"{name}.csv"
        write_text_atomic(path, table.to_csv())
        report.files[name] = path
    report.files["report"] = out_dir / "report.md"
    write_text_atomic(report.files["report"], report.to_markdown())
    report.files["evaluation"] = out_dir / "evaluation.json"
    write_json_atomic(report.files["evaluation"], report.evaluation.to_dict())
    LOG.info("evaluation report written to %s", out_dir)
