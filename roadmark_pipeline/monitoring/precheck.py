"""Column checks made before Evidently sees the data.

Evidently raises on an empty column and some of its tests return NaN on constant ones, so every
column is checked here first: missing, too few finite values, or a type that differs between
reference and current means "not evaluated" with a note, never drift and never a crash.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

LOG = logging.getLogger(__name__)

NUMERICAL = "numerical"
CATEGORICAL = "categorical"


@dataclass(frozen=True)
class ColumnCheck:
    """The verdict of the pre-check on one column.

    Attributes:
        column: Column name.
        group: ``"input"`` or ``"output"``.
        kind: ``"numerical"`` or ``"categorical"`` (bools are categorical).
        n_reference: Finite, non-null reference values.
        n_current: Finite, non-null current values.
        evaluated: True when the column goes to Evidently.
        note: Why it was not evaluated, or what was cleaned (inf values dropped).
        constant_equal: Both sides hold one and the same value.
    """

    column: str
    group: str
    kind: str
    n_reference: int
    n_current: int
    evaluated: bool
    note: str = ""
    constant_equal: bool = False


def _is_boolean(series: pd.Series) -> bool:
    """Return True for bool columns, including object columns of bools with gaps."""
    if ptypes.is_bool_dtype(series):
        return True
    values = series.dropna()
    return ptypes.is_object_dtype(series) and len(values) > 0 and values.map(type).eq(bool).all()


def column_kind(series: pd.Series) -> str:
    """Return how Evidently should treat a column: numerical, or categorical (bools, text)."""
    if _is_boolean(series):
        return CATEGORICAL
    if ptypes.is_numeric_dtype(series):
        return NUMERICAL
    return CATEGORICAL


def clean_column(series: pd.Series, kind: str) -> tuple[pd.Series, int]:
    """Return the column ready for Evidently and how many infinite values were set to NaN.

    Numerical columns become float64 with +-inf as NaN; categorical ones become text labels
    (``"True"``/``"False"`` for bools) with nulls kept as NaN.
    """
    if kind == NUMERICAL:
        values = series.astype("float64")
        infinite = int(np.isinf(values.to_numpy()).sum())
        return values.replace([np.inf, -np.inf], np.nan), infinite
    labels = series.astype(object).where(series.notna(), None)
    return labels.map(lambda value: np.nan if value is None else str(value)).astype(object), 0


def _constant_equal(reference: pd.Series, current: pd.Series) -> bool:
    """Return True when both sides hold exactly one and the same value."""
    ref_values = reference.dropna().unique()
    cur_values = current.dropna().unique()
    return len(ref_values) == 1 and len(cur_values) == 1 and ref_values[0] == cur_values[0]


def _not_evaluated(column: str, group: str, kind: str, counts: tuple[int, int], note: str):
    """Build the check of a column that stays out of Evidently."""
    return ColumnCheck(column, group, kind, counts[0], counts[1], evaluated=False, note=note)


def check_column(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    column: str,
    group: str,
    min_samples: int,
) -> tuple[ColumnCheck, pd.Series | None, pd.Series | None]:
    """Check one column and return it cleaned on both sides when it can be evaluated.

    Args:
        reference: The reference table.
        current: The current table.
        column: The column to check.
        group: ``"input"`` or ``"output"``, carried into the verdict.
        min_samples: Fewest finite values each side needs.

    Returns:
        The verdict, and the cleaned reference and current columns (None when not evaluated).
    """
    for side, frame in (("reference", reference), ("current", current)):
        if column not in frame.columns:
            return _not_evaluated(column, group, "", (0, 0), f"missing from {side}"), None, None

    kind = column_kind(reference[column])
    if column_kind(current[column]) != kind and current[column].notna().any():
        note = f"type differs: reference {reference[column].dtype}, current {current[column].dtype}"
        return _not_evaluated(column, group, kind, (0, 0), note), None, None

    ref_values, ref_inf = clean_column(reference[column], kind)
    cur_values, cur_inf = clean_column(current[column], kind)
    counts = (int(ref_values.notna().sum()), int(cur_values.notna().sum()))
    for side, count in (("reference", counts[0]), ("current", counts[1])):
        if count < min_samples:
            note = f"{count} usable {side} values < min_samples {min_samples}"
            return _not_evaluated(column, group, kind, counts, note), None, None

    note = f"{ref_inf + cur_inf} infinite values ignored" if ref_inf + cur_inf else ""
    check = ColumnCheck(
        column,
        group,
        kind,
        counts[0],
        counts[1],
        evaluated=True,
        note=note,
        constant_equal=_constant_equal(ref_values, cur_values),
    )
    return check, ref_values, cur_values


def check_columns(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: list[tuple[str, str]],
    min_samples: int,
) -> tuple[list[ColumnCheck], pd.DataFrame, pd.DataFrame]:
    """Check every candidate column; return the verdicts and the tables Evidently may see.

    Args:
        reference: The reference table.
        current: The current table.
        columns: ``(column, group)`` pairs to check, in report order.
        min_samples: Fewest finite values each side needs per column.

    Returns:
        The verdicts in order, and reference and current tables holding only the evaluated
        columns, cleaned.
    """
    checks: list[ColumnCheck] = []
    ref_clean: dict[str, pd.Series] = {}
    cur_clean: dict[str, pd.Series] = {}
    for column, group in columns:
        check, ref_values, cur_values = check_column(reference, current, column, group, min_samples)
        checks.append(check)
        if ref_values is not None and cur_values is not None:
            ref_clean[column] = ref_values.reset_index(drop=True)
            cur_clean[column] = cur_values.reset_index(drop=True)

    skipped = sum(not check.evaluated for check in checks)
    LOG.info("pre-check: %d columns evaluated, %d not evaluated", len(ref_clean), skipped)
    return checks, pd.DataFrame(ref_clean), pd.DataFrame(cur_clean)
