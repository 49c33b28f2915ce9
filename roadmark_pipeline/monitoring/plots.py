"""Fleet metrics over time as PNG plots, for the operator (attached to asset metadata).

Three pictures, one line per camera model: software (latency, fps, CPU, memory, GPU), input
(brightness, contrast, blur, exposure) and output (detections per frame, empty share,
confidence, detections per class); a fourth with the drifted share per day when a drift history
is given. Matplotlib's object API with the Agg canvas is used, so nothing touches pyplot's global
state or needs a display. Matplotlib is imported when the first picture is drawn, after
``MPLCONFIGDIR`` points into the state folder (``configure_matplotlib``), so importing this module
(as the Dagster definitions do) writes nothing in the home folder.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from roadmark_pipeline.lake import write_bytes_atomic
from roadmark_pipeline.monitoring.drift import segment_labels
from roadmark_pipeline.monitoring.schema import class_columns

if TYPE_CHECKING:
    from matplotlib.figure import Figure

LOG = logging.getLogger(__name__)

Aggregate = Callable[[pd.Series], float]


def _p95(values: pd.Series) -> float:
    return float(values.quantile(0.95))


def _share(values: pd.Series) -> float:
    return float(values.astype(float).mean())


# (column, how to aggregate a time bucket, panel title), per picture.
PANELS: dict[str, tuple[tuple[str, Aggregate | str, str], ...]] = {
    "software": (
        ("latency_ms", "median", "latency p50 (ms)"),
        ("latency_ms", _p95, "latency p95 (ms)"),
        ("fps", "mean", "frames per second"),
        ("cpu_percent", "mean", "CPU (%)"),
        ("mem_mb", "max", "memory (MB, max)"),
        ("gpu_percent", "mean", "GPU (%)"),
    ),
    "input": (
        ("brightness", "median", "brightness (median grey level)"),
        ("contrast", "median", "contrast (median)"),
        ("blur", "median", "sharpness (Laplacian variance, median)"),
        ("overexposed_share", "mean", "overexposed pixel share"),
        ("underexposed_share", "mean", "underexposed pixel share"),
    ),
    "output": (
        ("n_detections", "mean", "detections per frame"),
        ("empty", _share, "share of empty frames"),
        ("mean_confidence", "mean", "mean confidence"),
        ("max_confidence", "mean", "max confidence (mean)"),
    ),
}


def _bucket_frequency(ts: pd.Series) -> str:
    """Return hourly buckets for up to three days of data, daily ones beyond."""
    span = ts.max() - ts.min()
    return "D" if span > pd.Timedelta(days=3) else "h"


def _series(frame: pd.DataFrame, column: str, how: Aggregate | str, freq: str) -> pd.DataFrame:
    """Return the column aggregated per time bucket, one column per camera model."""
    grouped = frame.groupby([pd.Grouper(key="ts", freq=freq), "camera"])[column]
    return grouped.agg(how).unstack("camera")


def _draw(axes, data: pd.DataFrame, title: str) -> None:
    """Draw one panel: a line per camera model, or a note when there is no value."""
    axes.set_title(title, fontsize=9)
    if data.dropna(how="all").empty:
        axes.text(0.5, 0.5, "no values", ha="center", va="center", transform=axes.transAxes)
        axes.set_xticks([])
        axes.set_yticks([])
        return
    for camera in data.columns:
        axes.plot(data.index, data[camera], marker=".", label=str(camera))
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator(maxticks=8)
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    axes.tick_params(labelsize=7)
    axes.grid(alpha=0.3)


def _figure(**options: object) -> Figure:
    """A new figure; matplotlib is imported here, once its config folder is set."""
    from roadmark_pipeline.model.offline import configure_matplotlib

    configure_matplotlib()
    from matplotlib.figure import Figure

    return Figure(**options)


def _save(figure: Figure, path: Path) -> Path:
    """Render a figure to PNG and write it atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    buffer = io.BytesIO()
    FigureCanvasAgg(figure)
    figure.savefig(buffer, format="png", dpi=90)
    write_bytes_atomic(path, buffer.getvalue())
    return path


def _panel_figure(frame: pd.DataFrame, panels, title: str, freq: str) -> Figure | None:
    """Build a figure with one panel per (column, aggregation, title) present in the table.

    Returns None when the table holds none of the columns (a figure of no panels has no size).
    """
    present = [panel for panel in panels if panel[0] in frame.columns]
    if not present:
        return None
    rows = (len(present) + 1) // 2
    figure = _figure(figsize=(11, 2.6 * rows), layout="constrained")
    figure.suptitle(title)
    for index, (column, how, label) in enumerate(present):
        axes = figure.add_subplot(rows, 2, index + 1)
        _draw(axes, _series(frame, column, how, freq), label)
    figure.axes[0].legend(fontsize=7, title="camera model", title_fontsize=7)
    return figure


def _class_figure(frame: pd.DataFrame, freq: str) -> Figure:
    """Build the detections-per-class figure (all cameras together, one line per class)."""
    names = class_columns(frame)
    figure = _figure(figsize=(11, 3.2), layout="constrained")
    axes = figure.add_subplot(1, 1, 1)
    data = frame.groupby(pd.Grouper(key="ts", freq=freq))[names].mean()
    _draw(axes, data.rename(columns=lambda c: c.removeprefix("det_")), "detections per frame")
    if names:
        axes.legend(fontsize=7, ncol=3)
    return figure


def _drift_figure(drift_history: pd.DataFrame) -> Figure:
    """Build the drifted-share-per-day figure, with the threshold when given."""
    history = drift_history.sort_values("day")
    figure = _figure(figsize=(11, 3), layout="constrained")
    axes = figure.add_subplot(1, 1, 1)
    days = pd.to_datetime(history["day"])
    axes.plot(days, history["drifted_share"], marker="o", label="drifted share")
    if "drift_share_threshold" in history:
        axes.plot(days, history["drift_share_threshold"], linestyle="--", label="threshold")
    flagged = history.get("status", pd.Series("", index=history.index)).eq("drift")
    axes.scatter(days[flagged], history.loc[flagged, "drifted_share"], color="red", zorder=3)
    axes.set_ylim(0, 1.05)
    axes.set_title("share of drifted columns per day (red: drift)", fontsize=9)
    axes.legend(fontsize=7)
    return figure


def timeseries_plots(
    history: pd.DataFrame, out_dir: Path | str, drift_history: pd.DataFrame | None = None
) -> dict[str, Path]:
    """Plot the fleet's software, input and output metrics over time.

    Args:
        history: Per-frame telemetry rows over the period to show (for example the last 30
            ``fleet_telemetry`` partitions concatenated); needs ``ts``.
        out_dir: Folder for the PNG files (written atomically).
        drift_history: Optional ``day``, ``drifted_share`` (and ``status``,
            ``drift_share_threshold``) rows from past drift reports.

    Returns:
        Picture name (``software``, ``input``, ``output``, ``classes``, ``drift``) to PNG path;
        a picture none of whose columns is in ``history`` is left out; empty when ``history``
        has no rows.
    """
    out = Path(out_dir)
    if history.empty or "ts" not in history.columns:
        LOG.info("no telemetry rows to plot")
        return {}

    frame = history.assign(ts=pd.to_datetime(history["ts"], utc=True))
    camera = (
        frame["camera_model"] if "camera_model" in frame else pd.Series(None, index=frame.index)
    )
    frame = frame.assign(camera=segment_labels(camera))
    freq = _bucket_frequency(frame["ts"])
    panel_figures = {
        name: _panel_figure(frame, panels, f"{name} metrics ({freq} buckets)", freq)
        for name, panels in PANELS.items()
    }
    figures = {name: figure for name, figure in panel_figures.items() if figure is not None}
    skipped = sorted(set(panel_figures) - set(figures))
    if skipped:
        LOG.info("no column for the %s pictures; left out", ", ".join(skipped))
    if class_columns(frame):
        figures["classes"] = _class_figure(frame, freq)
    if drift_history is not None and not drift_history.empty:
        figures["drift"] = _drift_figure(drift_history)

    paths = {name: _save(figure, out / f"{name}.png") for name, figure in figures.items()}
    LOG.info("plotted %d rows into %d pictures in %s", len(frame), len(paths), out)
    return paths
