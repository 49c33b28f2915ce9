"""One Evidently data-drift run over pre-checked columns, with NaN scores guarded.

Evidently 0.7 has no dataset-drift boolean in its new API: per-column scores and verdicts are
read from the report's ``ValueDrift`` metrics and their tests, and the share is computed by the
caller. Column types are always passed explicitly (Evidently would otherwise call a column of
integer brightness values categorical).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from roadmark_pipeline.monitoring.precheck import NUMERICAL, ColumnCheck

LOG = logging.getLogger(__name__)

# Evidently stattests whose score is a p-value (drift when small); the others are distances
# (drift when large). Registered names and the display names the report shows.
P_VALUE_TESTS = frozenset(
    {
        "anderson",
        "chisquare",
        "cramer_von_mises",
        "empirical_mmd",
        "es",
        "fisher_exact",
        "g_test",
        "ks",
        "mannw",
        "t_test",
        "TVD",
        "z",
        "Anderson-Darling",
        "chi-square p_value",
        "Cramer-von Mises",
        "Epps-Singleton",
        "Fisher's Exact test",
        "K-S p_value",
        "Mann-Whitney U-rank test",
        "Total-Variation-Distance",
        "Z-test p_value",
    }
)


@dataclass(frozen=True)
class ColumnDrift:
    """Evidently's verdict on one column.

    Attributes:
        column: Column name.
        stattest: The test Evidently used (display name when it chose it itself).
        score: The test's score; never NaN (see :func:`guard_score`).
        threshold: The threshold the score was compared with.
        drifted: Evidently's verdict, False whenever the score had to be guarded.
        note: Set when the score was guarded.
    """

    column: str
    stattest: str
    score: float
    threshold: float
    drifted: bool
    note: str = ""


@dataclass(frozen=True)
class EvidentlyOptions:
    """The stattest choices handed to Evidently's ``DataDriftPreset``.

    Attributes:
        num_method: Stattest for numerical columns; Evidently chooses when None.
        cat_method: Stattest for categorical columns; Evidently chooses when None.
        per_column_method: Stattest per column name.
        per_column_threshold: Threshold per column name.
    """

    num_method: str | None = None
    cat_method: str | None = None
    per_column_method: Mapping[str, str] | None = None
    per_column_threshold: Mapping[str, float] | None = None


def neutral_score(stattest: str) -> float:
    """Return the score meaning "no difference at all": 1 for p-values, 0 for distances."""
    return 1.0 if stattest in P_VALUE_TESTS else 0.0


def guard_score(drift: ColumnDrift, check: ColumnCheck) -> tuple[ColumnDrift, bool]:
    """Replace a NaN score; return the column verdict and whether it still counts as evaluated.

    A column that is one and the same constant on both sides has not drifted: its score becomes
    the neutral one (p = 1 or distance 0). Any other NaN leaves the column not evaluated.
    """
    if math.isfinite(drift.score):
        return drift, True
    if check.constant_equal:
        note = f"{drift.stattest} gave NaN on a column constant in both; scored as no change"
        fixed = ColumnDrift(
            drift.column, drift.stattest, neutral_score(drift.stattest), drift.threshold, False
        )
        return ColumnDrift(**{**fixed.__dict__, "note": note}), True
    note = f"{drift.stattest} gave NaN; column not evaluated"
    return ColumnDrift(drift.column, drift.stattest, math.nan, drift.threshold, False, note), False


def build_report(checks: list[ColumnCheck], drift_share: float, options: EvidentlyOptions) -> Any:
    """Build the Evidently report for the evaluated columns (imports Evidently lazily)."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    columns = [check.column for check in checks if check.evaluated]
    preset = DataDriftPreset(
        columns=columns,
        drift_share=drift_share,
        num_method=options.num_method,
        cat_method=options.cat_method,
        per_column_method=dict(options.per_column_method or {}) or None,
        per_column_threshold=dict(options.per_column_threshold or {}) or None,
    )
    return Report([preset], include_tests=True)


def _dataset(frame: pd.DataFrame, checks: list[ColumnCheck]) -> Any:
    """Wrap a table in an Evidently Dataset with explicit column types."""
    from evidently import DataDefinition, Dataset

    evaluated = [check for check in checks if check.evaluated]
    definition = DataDefinition(
        numerical_columns=[check.column for check in evaluated if check.kind == NUMERICAL],
        categorical_columns=[check.column for check in evaluated if check.kind != NUMERICAL],
    )
    return Dataset.from_pandas(frame, data_definition=definition)


def parse_snapshot(snapshot_dict: dict[str, Any]) -> dict[str, ColumnDrift]:
    """Read per-column scores and verdicts out of ``Snapshot.dict()``."""
    failed = {
        test["metric_config"]["params"].get("column")
        for test in snapshot_dict.get("tests", [])
        if str(test.get("status")).endswith("FAIL")
    }
    drifts: dict[str, ColumnDrift] = {}
    for metric in snapshot_dict.get("metrics", []):
        config = metric.get("config", {})
        if not str(config.get("type", "")).endswith(":ValueDrift"):
            continue
        column = str(config["column"])
        score = metric.get("value")
        drifts[column] = ColumnDrift(
            column=column,
            stattest=str(config.get("method")),
            score=math.nan if score is None else float(score),
            threshold=float(config.get("threshold") or math.nan),
            drifted=column in failed,
        )
    return drifts


def run_evidently(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    checks: list[ColumnCheck],
    drift_share: float,
    options: EvidentlyOptions,
    name: str | None = None,
    timestamp: dt.datetime | None = None,
) -> tuple[dict[str, ColumnDrift], Any]:
    """Run Evidently's drift preset on the evaluated columns.

    Args:
        reference: Cleaned reference columns (from :func:`precheck.check_columns`).
        current: Cleaned current columns.
        checks: The pre-check verdicts; only evaluated columns are sent.
        drift_share: Share of drifted columns that Evidently's own summary test uses.
        options: Stattest choices.
        name: The snapshot's name (shown in the Evidently UI).
        timestamp: The snapshot's time (the day the data covers); now when None.

    Returns:
        The raw per-column verdicts by column name (scores may still be NaN; guard them with
        :func:`guard_score`) and the Evidently snapshot for HTML and JSON output.
    """
    report = build_report(checks, drift_share, options)
    with warnings.catch_warnings():
        # scipy warns on divide-by-zero inside chi-square for constant columns; the NaN it
        # produces is guarded afterwards.
        warnings.simplefilter("ignore", RuntimeWarning)
        snapshot = report.run(
            current_data=_dataset(current, checks),
            reference_data=_dataset(reference, checks),
            timestamp=timestamp,
            name=name,
        )
    drifts = parse_snapshot(snapshot.dict())
    LOG.info(
        "evidently: %d of %d columns drifted", sum(d.drifted for d in drifts.values()), len(drifts)
    )
    return drifts, snapshot
