"""The closing printout of ``roadmark demo``: figures, and where to look next."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from roadmark_pipeline.demo import DemoSummary


def ap_table_text(evaluation: dict) -> str:
    """Render the per-class AP table (rows: class-score thresholds) as plain text."""
    table = evaluation.get("ap_table")
    if not table:
        return "(no evaluation)"
    frame = pd.DataFrame(table["data"], index=table["index"], columns=table["columns"]).astype(
        float
    )
    frame.index.name = "score threshold"
    return frame.to_string(float_format=lambda value: f"{value:.3f}", na_rep="n/a")


def checks_text(checks: dict[str, tuple[bool, str]]) -> list[str]:
    """One line per asset check: passed or failed, and why."""
    return [
        f"  {name}: {'passed' if passed else 'FAILED'} - {why[:150]}"
        for name, (passed, why) in sorted(checks.items())
    ] or ["  (none ran)"]


def error_analysis_text(evaluation: dict, rows: int = 8) -> str:
    """The top rows of the error-analysis table."""
    table = pd.DataFrame(evaluation.get("error_analysis") or [])
    if table.empty:
        return "  (no slices)"
    columns = [
        c
        for c in ("slice", "value", "score", "human_level", "gap", "share", "priority")
        if c in table
    ]
    return table[columns].head(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}")


def segment_lines(drift: dict) -> list[str]:
    """One line per camera model: its own verdict against the reference."""
    return [
        f"  {key.removeprefix('segment/')}: {value}"
        for key, value in sorted(drift.items())
        if key.startswith("segment/")
    ] or ["  (no camera model reported)"]


def render_summary(summary: DemoSummary, home: Path) -> str:
    """Return the text the demo ends with.

    Args:
        summary: What the demo did.
        home: The roadmark home (lake, instance, devices).
    """
    evaluation, release, drift = summary.evaluation, summary.release, summary.drift
    parity = ", ".join(f"{key}={value}" for key, value in sorted(summary.parity.items()))
    lines = [
        "",
        f"roadmark demo finished in {summary.wall_s:.0f} s "
        f"({summary.new_sources} new sources ingested)",
        "",
        "Test-set AP50 per class at class-score thresholds (n/a: no such class in the test clip):",
        ap_table_text(evaluation),
        "mAP50 {:.3f}   mAP50-95 {:.3f}   on {} test frames".format(
            evaluation.get("map50", float("nan")),
            evaluation.get("map50_95", float("nan")),
            evaluation.get("test_frames", 0),
        ),
        "",
        f"ONNX parity (onnxruntime vs PyTorch): {parity or 'not evaluated'}",
        "",
        "Checks of the training run:",
        *checks_text(summary.checks),
        "",
        "Class-score thresholds shipped in the release (best F1 on the test set):",
        f"  {release.get('thresholds')}",
        "",
        "Error analysis (priority = gap to human level x share of the data, largest first):",
        error_analysis_text(evaluation),
        "Release {} on channel '{}' ({})".format(
            release.get("version"),
            release.get("channel"),
            "new" if release.get("new") else "already published, reused",
        ),
        "Drift today, fleet overall: {} (drifted share {}); per camera model:".format(
            drift.get("status"), drift.get("drifted_share")
        ),
        *segment_lines(drift),
        f"Drift sensor: {summary.drift_sensor}",
        "",
        "Where to look:",
        "  Dagster UI (runs, assets, checks):  make dev   then open http://127.0.0.1:3000",
        f"  Label Studio (tasks, annotations):  {summary.label_studio_url}",
        f"      login and token: {home / 'labelstudio'} ; stop it with: .venv/bin/roadmark "
        "labelstudio stop",
        f"  Drift report (HTML):                {drift.get('html_path')}",
        f"  Release bundle:                     {release.get('release_dir')}",
        f"  TUF repository:                     {release.get('tuf_repo')}",
        f"  Device folder (active release):     {summary.runs.get('device')}",
        f"  Lake (frames, tables, models):      {home / 'lake'}",
    ]
    return "\n".join(lines)
