"""Precision-recall curves as PNG images (for the evaluation asset's metadata and the docs)."""

from __future__ import annotations

import base64
import io
import logging
from pathlib import Path

from roadmark_pipeline.lake import write_bytes_atomic
from roadmark_pipeline.model.evaluation import Evaluation

LOG = logging.getLogger(__name__)


def _figure_png(evaluation: Evaluation, names: list[str], title: str) -> bytes:
    """Draw the PR curves of ``names`` into one PNG (matplotlib, no display needed)."""
    from roadmark_pipeline.model.offline import configure_matplotlib

    configure_matplotlib()  # before the import: nothing written in the home folder
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(5, 4), dpi=100)
    try:
        for name in names:
            recall, precision = evaluation.pr_curves[name]
            ap = evaluation.per_class.at[name, "ap50"]
            axes.step(recall, precision, where="post", label=f"{name} AP50 {ap:.3f}")
        axes.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="recall", ylabel="precision", title=title)
        axes.grid(alpha=0.3)
        if names:
            axes.legend(loc="lower left", fontsize=8)
        buffer = io.BytesIO()
        figure.tight_layout()
        figure.savefig(buffer, format="png")
    finally:
        plt.close(figure)
    return buffer.getvalue()


def plot_pr_curves(evaluation: Evaluation, out_dir: Path) -> dict[str, Path]:
    """Write one PR-curve PNG per evaluated class and one with all of them.

    Args:
        evaluation: An evaluation with its curves (from ``evaluate_detections``).
        out_dir: Folder for ``pr_<class>.png`` and ``pr_all.png``.

    Returns:
        ``"all"`` and each evaluated class name -> PNG path. Classes without ground truth get
        no image (their curve does not exist).
    """
    names = [name for name in evaluation.evaluated_classes() if name in evaluation.pr_curves]
    paths = {}
    title = f"PR at IoU 0.5, mAP50 {evaluation.map50:.3f}"
    paths["all"] = Path(out_dir) / "pr_all.png"
    write_bytes_atomic(paths["all"], _figure_png(evaluation, names, title))
    for name in names:
        paths[name] = Path(out_dir) / f"pr_{name}.png"
        write_bytes_atomic(paths[name], _figure_png(evaluation, [name], f"{name} (IoU 0.5)"))
    LOG.info("wrote %d PR-curve images to %s", len(paths), out_dir)
    return paths


def image_markdown(path: Path, alt: str = "") -> str:
    """Return Markdown that embeds a PNG inline (base64), e.g. for Dagster's markdown metadata."""
    encoded = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f"![{alt or Path(path).stem}](data:image/png;base64,{encoded})"
