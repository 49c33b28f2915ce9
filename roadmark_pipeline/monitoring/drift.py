"""Drift of the fleet's input and output metrics against the training reference, with Evidently.

Every column is pre-checked first (:mod:`precheck`): too few values means "not evaluated", too
few rows means ``insufficient_data``, and NaN scores from constant columns are guarded, so a
report never says drift for lack of data and never crashes on it. The same comparison is run
per segment (camera model by default), each segment's current rows against the whole reference.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from roadmark_pipeline.lake import write_json_atomic, write_text_atomic
from roadmark_pipeline.monitoring.evidently_run import EvidentlyOptions, guard_score, run_evidently
from roadmark_pipeline.monitoring.precheck import ColumnCheck, check_columns
from roadmark_pipeline.monitoring.reference import reference_from_training
from roadmark_pipeline.monitoring.result import (
    COLUMN_FIELDS,
    STATUS_DRIFT,
    STATUS_INSUFFICIENT,
    STATUS_NO_DRIFT,
    DriftResult,
)
from roadmark_pipeline.monitoring.schema import CLASS_COLUMN_PREFIX

LOG = logging.getLogger(__name__)

INPUT_COLUMNS = ("brightness", "contrast", "blur", "overexposed_share", "underexposed_share")
OUTPUT_COLUMNS = ("n_detections", "mean_confidence", "empty")
UNKNOWN_SEGMENT = "unknown"
SNAPSHOT_FILE = "evidently.json"

__all__ = [
    "INPUT_COLUMNS",
    "OUTPUT_COLUMNS",
    "STATUS_DRIFT",
    "STATUS_INSUFFICIENT",
    "STATUS_NO_DRIFT",
    "DriftConfig",
    "DriftConfigError",
    "DriftResult",
    "drift_report",
    "reference_from_training",
]


class DriftConfigError(ValueError):
    """A drift setting is out of range; the message names the setting and the valid range."""


@dataclass(frozen=True)
class DriftConfig:
    """Settings of a drift report.

    Attributes:
        drift_share: Status is drift when drifted / evaluated columns reaches this share in the
            input group or in the output group.
        min_samples: Fewest usable values a column needs on each side, and fewest rows overall
            (and per segment) before anything is judged.
        min_evaluated_columns: Fewest evaluated columns for a verdict; fewer is insufficient_data.
        input_columns: Input-metric columns compared.
        output_columns: Output-metric columns compared.
        class_columns: Also compare every ``det_<class>`` column found in either table.
        num_method: Evidently stattest name for numerical columns; Evidently picks when None
            (K-S up to 1000 reference rows, normed Wasserstein above).
        cat_method: Evidently stattest name for categorical and bool columns.
        per_column_method: Stattest name per column.
        per_column_threshold: Stattest threshold per column.
        count_method: Stattest for detection counts (``n_detections``, ``det_<class>``). K-S by
            default: Evidently would pick chi-square for columns of a few small integers, and
            chi-square calls a count never seen in the reference (a frame with 3 crosswalks)
            certain drift. None lets Evidently choose.
        max_segments: Most segments compared (the largest first); the rest are logged.
        segment_html: Write an Evidently HTML report per segment as well as the overall one.
    """

    drift_share: float = 0.5
    min_samples: int = 30
    min_evaluated_columns: int = 1
    input_columns: tuple[str, ...] = INPUT_COLUMNS
    output_columns: tuple[str, ...] = OUTPUT_COLUMNS
    class_columns: bool = True
    num_method: str | None = None
    cat_method: str | None = None
    per_column_method: Mapping[str, str] = field(default_factory=dict)
    per_column_threshold: Mapping[str, float] = field(default_factory=dict)
    max_segments: int = 20
    segment_html: bool = True
    count_method: str | None = "ks"

    def __post_init__(self) -> None:
        if not 0.0 < self.drift_share <= 1.0:
            raise DriftConfigError(f"drift_share={self.drift_share}; pass a share in (0, 1]")
        for name in ("min_samples", "min_evaluated_columns", "max_segments"):
            if getattr(self, name) < 1:
                raise DriftConfigError(f"{name}={getattr(self, name)}; pass an integer >= 1")

    def evidently_options(self, columns: Sequence[str] = ()) -> EvidentlyOptions:
        """Return the stattest choices for the given evaluated columns.

        Detection-count columns get :attr:`count_method` unless :attr:`per_column_method`
        names them.
        """
        methods = {name: self.count_method for name in columns if is_count_column(name)}
        methods = {k: v for k, v in methods.items() if v} | dict(self.per_column_method)
        return EvidentlyOptions(
            num_method=self.num_method,
            cat_method=self.cat_method,
            per_column_method=methods,
            per_column_threshold=self.per_column_threshold,
        )


def is_count_column(name: str) -> bool:
    """Return True for detection-count columns: ``n_detections`` and ``det_<class>``."""
    return name == "n_detections" or name.startswith(CLASS_COLUMN_PREFIX)


def candidate_columns(
    reference: pd.DataFrame, current: pd.DataFrame, config: DriftConfig
) -> list[tuple[str, str]]:
    """Return ``(column, group)`` for every column the report judges, inputs first."""
    pairs = [(name, "input") for name in config.input_columns]
    pairs += [(name, "output") for name in config.output_columns]
    if config.class_columns:
        found = [*reference.columns, *current.columns]
        classes = sorted({str(c) for c in found if str(c).startswith(CLASS_COLUMN_PREFIX)})
        pairs += [(name, "output") for name in classes]
    seen: set[str] = set()
    return [pair for pair in pairs if not (pair[0] in seen or seen.add(pair[0]))]


def _column_rows(checks: list[ColumnCheck], drifts: dict[str, Any]) -> pd.DataFrame:
    """Merge pre-check verdicts and guarded Evidently verdicts into the columns table."""
    rows = []
    for check in checks:
        row = {
            "column": check.column,
            "group": check.group,
            "stattest": "",
            "score": float("nan"),
            "threshold": float("nan"),
            "drifted": False,
            "n_reference": check.n_reference,
            "n_current": check.n_current,
            "evaluated": check.evaluated,
            "note": check.note,
        }
        drift = drifts.get(check.column)
        if check.evaluated and drift is not None:
            guarded, evaluated = guard_score(drift, check)
            notes = "; ".join(text for text in (check.note, guarded.note) if text)
            row.update(stattest=guarded.stattest, score=guarded.score)
            row.update(threshold=guarded.threshold, drifted=guarded.drifted and evaluated)
            row.update(evaluated=evaluated, note=notes)
        rows.append(row)
    return pd.DataFrame(rows, columns=list(COLUMN_FIELDS))


def group_shares(columns: pd.DataFrame) -> dict[str, float]:
    """Return drifted / evaluated columns per group (input, output) that has evaluated columns.

    Shares are per group so that the many per-class output columns cannot drown a shift of the
    five input metrics, nor the other way round.
    """
    judged = columns[columns["evaluated"].astype(bool)]
    shares = judged.groupby("group", sort=True)["drifted"].mean()
    return {str(group): float(share) for group, share in shares.items()}


def _verdict(
    columns: pd.DataFrame, n_reference: int, n_current: int, config: DriftConfig
) -> tuple[str, dict[str, float], str]:
    """Return status, drifted share per group and (for insufficient data) the reason."""
    if min(n_reference, n_current) < config.min_samples:
        reason = f"{n_reference} reference / {n_current} current rows; need {config.min_samples}"
        return STATUS_INSUFFICIENT, {}, reason
    evaluated = int(columns["evaluated"].sum())
    if evaluated < config.min_evaluated_columns:
        reason = f"{evaluated} columns evaluated; need {config.min_evaluated_columns}"
        return STATUS_INSUFFICIENT, {}, reason
    shares = group_shares(columns)
    drifted = max(shares.values()) >= config.drift_share
    return (STATUS_DRIFT if drifted else STATUS_NO_DRIFT), shares, ""


def _compare(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    config: DriftConfig,
    day: str,
    segment: str | None,
) -> tuple[DriftResult, Any]:
    """Pre-check, run Evidently when anything can be judged, and build the verdict."""
    checks, ref_clean, cur_clean = check_columns(
        reference, current, candidate_columns(reference, current, config), config.min_samples
    )
    enough_rows = min(len(reference), len(current)) >= config.min_samples
    snapshot = None
    drifts: dict[str, Any] = {}
    if enough_rows and any(check.evaluated for check in checks):
        drifts, snapshot = run_evidently(
            ref_clean,
            cur_clean,
            checks,
            config.drift_share,
            config.evidently_options([check.column for check in checks if check.evaluated]),
            name=snapshot_name(day, segment),
            timestamp=_day_start(day),
        )

    columns = _column_rows(checks, drifts)
    status, shares, reason = _verdict(columns, len(reference), len(current), config)
    share = max(shares.values(), default=0.0)
    result = DriftResult(
        status=status,
        drifted_share=share,
        group_shares=shares,
        columns=columns,
        n_reference=len(reference),
        n_current=len(current),
        day=day,
        drift_share_threshold=config.drift_share,
        segment=segment,
        reason=reason,
    )
    LOG.info("drift %s (%s): %s, share %.2f", day, segment or "overall", status, share)
    return result, snapshot


def snapshot_name(day: str, segment: str | None) -> str:
    """Return the name of a comparison's Evidently snapshot: ``drift <day> <segment|overall>``."""
    return f"drift {day} {segment or 'overall'}"


def _day_start(day: str) -> dt.datetime | None:
    """Return midnight UTC of an ISO day, None for 'undated' or another label."""
    try:
        return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(), tzinfo=dt.UTC)
    except ValueError:
        return None


def _fallback_html(result: DriftResult) -> str:
    """Return a small HTML page for a comparison Evidently did not run on."""
    title = f"roadmark drift {result.day} {result.segment or 'overall'}: {result.status}"
    table = result.columns.to_html(index=False, na_rep="", escape=True)
    reason = html.escape(result.reason or "no column could be evaluated")
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"</head><body><h1>{html.escape(title)}</h1><p>{reason}</p>{table}</body></html>\n"
    )


def _write(result: DriftResult, snapshot: Any, folder: Path, html_report: bool) -> DriftResult:
    """Write the HTML (Evidently's, or a fallback page) and the verdict JSON atomically."""
    html_path = folder / "report.html" if html_report else None
    if html_path is not None:
        page = snapshot.get_html_str(as_iframe=False) if snapshot else _fallback_html(result)
        write_text_atomic(html_path, page)
    if snapshot is not None:
        write_text_atomic(folder / SNAPSHOT_FILE, snapshot.dumps())  # Snapshot.load() reads it
    written = result.with_paths(html_path, folder / "drift.json")
    write_json_atomic(folder / "drift.json", written.to_dict())
    return written


def segment_labels(series: pd.Series) -> pd.Series:
    """Return the segment label of every row: the value as text, ``"unknown"`` when missing."""
    return series.astype(object).where(series.notna(), UNKNOWN_SEGMENT).astype(str)


def segment_slug(value: str) -> str:
    """Return a file-name-safe folder name for a segment value."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", value).strip("._") or "segment"


def _segments(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    column: str,
    config: DriftConfig,
    day: str,
    out_dir: Path,
) -> dict[str, DriftResult]:
    """Compare each segment's current rows with the whole reference and write their reports."""
    values = segment_labels(current[column])
    counts = values.value_counts()
    if len(counts) > config.max_segments:
        LOG.warning(
            "%d segments of %r; comparing the %d largest", len(counts), column, config.max_segments
        )
    results = {}
    for name in list(counts.index[: config.max_segments]):
        seg_result, snapshot = _compare(reference, current[values == name], config, day, name)
        folder = out_dir / "segments" / segment_slug(name)
        results[name] = _write(seg_result, snapshot, folder, config.segment_html)
    return results


def _day_of(current: pd.DataFrame, day: dt.date | str | None) -> str:
    """Return the report's day: the one given, else the latest ``ts`` date, else 'undated'."""
    if day is not None:
        return day.isoformat() if isinstance(day, dt.date) else str(day)
    if "ts" in current.columns and current["ts"].notna().any():
        return pd.to_datetime(current["ts"], utc=True).max().date().isoformat()
    return "undated"


def drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    config: DriftConfig | None = None,
    out_dir: Path | str,
    segment_column: str | None = "camera_model",
    day: dt.date | str | None = None,
) -> DriftResult:
    """Compare current fleet telemetry with the reference and write the drift report.

    Args:
        reference: The reference in telemetry column names (see
            :func:`roadmark_pipeline.monitoring.reference.reference_from_training`).
        current: The day's telemetry rows.
        config: Thresholds and stattests; the defaults when None.
        out_dir: Folder for ``report.html`` (Evidently), ``evidently.json``, ``drift.json`` (this
            verdict) and ``segments/<value>/``; every file is written atomically.
        segment_column: Column of ``current`` to compare per value (camera model by default);
            None for the overall comparison only.
        day: The day the report covers, used in the event key; the latest ``ts`` when None.

    Returns:
        The verdict with its segments and the paths of the written files.
    """
    config = config or DriftConfig()
    out_dir = Path(out_dir)
    day_text = _day_of(current, day)

    result, snapshot = _compare(reference, current, config, day_text, None)
    segments: dict[str, DriftResult] = {}
    if segment_column is not None and segment_column in current.columns and len(current):
        segments = _segments(reference, current, segment_column, config, day_text, out_dir)
    elif segment_column is not None:
        LOG.info("no %r column in the current data; overall comparison only", segment_column)

    return _write(
        result.with_segments(segments, segment_column), snapshot, out_dir, html_report=True
    )
