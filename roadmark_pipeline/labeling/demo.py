"""A SIMULATED labeling round on the real Label Studio server, from the shipped frames.

Three simulated annotators (the shipped silver labels with seeded jitter, drops, class swaps and
shifts — never people) label the 113 shipped frames through the Label Studio API with the
project's overlap settings; the round is then pulled back and measured: the vote against the
shipped labels, the agreement table, throughput and the ETA per class. With a label-issues
table (from the model room's cleanlab search) the worst frames go back as review tasks and the
planted errors found in the top N are counted.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from roadmark_pipeline.labeling.client import LabelingProject
from roadmark_pipeline.labeling.config import label_config_xml
from roadmark_pipeline.labeling.loop import RoundReport, evaluate_round, submit_simulation
from roadmark_pipeline.labeling.overlap import assign_annotators, configure_overlap
from roadmark_pipeline.labeling.real_issues import RealCleanlab, real_label_issues
from roadmark_pipeline.labeling.review import send_for_review
from roadmark_pipeline.labeling.server import LabelStudioServer, connect
from roadmark_pipeline.labeling.simulate import (
    Simulation,
    SimulationConfig,
    precision_at_n,
    simulate_annotators,
    simulated_annotators,
    simulated_detector,
)
from roadmark_pipeline.labeling.throughput import eta_per_class
from roadmark_pipeline.lake import write_json_atomic, write_parquet_atomic, write_text_atomic
from roadmark_pipeline.taxonomy import class_names

LOG = logging.getLogger(__name__)

PROJECT_TITLE = "SIMULATED labeling loop"


@dataclass
class SimulatedRound:
    """Everything a SIMULATED round produced, and where its files are.

    Attributes:
        url: The project's data view in Label Studio.
        simulation: The simulated work, with the planted errors.
        report: The measured round.
        eta: ETA per class to the target count.
        review: Planted-error hits in the review batch, when an issues table was given.
        out_dir: Folder with the tables and ``summary.md``.
    """

    url: str
    simulation: Simulation
    report: RoundReport
    eta: pd.DataFrame
    review: dict[str, Any] = field(default_factory=dict)
    out_dir: Path = Path()


def run_simulated_round(
    work_dir: Path,
    data_dir: Path,
    *,
    server: LabelStudioServer | None = None,
    config: SimulationConfig | None = None,
    share: float = 1.0,
    target: int = 500,
    issues: pd.DataFrame | None = None,
    simulated_cleanlab: bool = False,
    real_cleanlab: RealCleanlab | None = None,
    n_review: int = 20,
) -> SimulatedRound:
    """Run one SIMULATED labeling round end to end on a real local Label Studio.

    Args:
        work_dir: Holds the decoded frames (``lake/frames``), the server data (when no server is
            given) and the results (``round/``).
        data_dir: The repository's ``data/`` folder (clips, stills, silver labels).
        server: A running server whose document root is ``work_dir/lake``; one is started (and
            left running) under ``work_dir/labelstudio`` when omitted.
        config: The simulated annotators' error rates and seed (defaults when omitted).
        share: Share of frames that get every annotator; the rest get one.
        target: Examples wanted per class, for the ETA.
        issues: Label issues (``frame_id, quality_score, issue_type``) ranking the first
            simulated annotator's labels; the worst ``n_review`` are sent back for review.
        simulated_cleanlab: Without ``issues``: rank the first annotator's labels with the
            model room's cleanlab search fed by SIMULATED detector predictions.
        real_cleanlab: Without ``issues``: rank them with cleanlab fed out-of-fold predictions
            of real detectors trained here on that annotator's labels (minutes on a CPU).
        n_review: How many frames to send back.

    Returns:
        The :class:`SimulatedRound`.
    """
    config = config or SimulationConfig()
    frames, truth = _shipped_frames(data_dir, work_dir / "lake")
    if server is None:
        server = LabelStudioServer(work_dir / "labelstudio", document_root=work_dir / "lake")
        server.start()
    client = connect(server.url, server.token)
    project = LabelingProject.ensure(
        client,
        PROJECT_TITLE,
        label_config_xml(class_names()),
        local_root=work_dir / "lake" / "frames",
        document_root=work_dir / "lake",
    )
    project.import_frames(frames[["frame_id", "path", "width", "height", "camera_model", "clip"]])

    overlap = configure_overlap(project, config.n_annotators, share)
    plan = assign_annotators(overlap, simulated_annotators(config.n_annotators))
    simulation = simulate_annotators(truth, frames, config, plan)
    submit_simulation(project, simulation)

    report = evaluate_round(
        project.export(), class_names(), frames=frames, slice_columns=["clip"], truth=truth
    )
    labelled = int(report.tables.tasks["status"].isin(["labelled", "reviewed_empty"]).sum())
    mean_overlap = sum(len(who) for who in plan.values()) / max(len(plan), 1)
    eta = eta_per_class(
        report.consensus.boxes,
        labelled,
        report.rates,
        target,
        class_names(),
        annotators_per_frame=mean_overlap,
        queued_frames=int((report.tables.tasks["status"] == "unannotated").sum()),
    )
    result = SimulatedRound(
        url=f"{project.url}/projects/{project.id}/data",
        simulation=simulation,
        report=report,
        eta=eta,
        out_dir=work_dir / "round",
    )
    figures: dict[str, Any] = {}
    if issues is None and real_cleanlab is not None:
        labelled, labels = _first_annotator(report, simulation, frames)
        found = real_label_issues(labelled, labels, work_dir / "cleanlab", real_cleanlab, truth)
        issues, figures = found.issues, found.figures
        write_parquet_atomic(result.out_dir / "fold_predictions.parquet", found.predictions)
    elif issues is None and simulated_cleanlab:
        issues = _simulated_issues(report, simulation, frames, truth)
        figures = {"predictions": "SIMULATED detector (the shipped labels, jittered)"}
    if issues is not None:
        result.review = _review(project, issues, simulation, n_review) | figures
    write_round(result)
    return result


def _shipped_frames(data_dir: Path, lake: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Decode the silver-labelled frames under ``lake/frames``; stills are copied there too."""
    from roadmark_pipeline.model.silver import load_silver

    frames, truth = load_silver(data_dir, lake)
    for index, row in frames.iterrows():
        path = Path(row["path"])
        if not path.resolve().is_relative_to((lake / "frames").resolve()):
            target = lake / "frames" / row["frame_id"].split("/")[0] / "000000.jpg"
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                shutil.copyfile(path, target)
            frames.loc[index, "path"] = str(target)
    return frames, truth


def _simulated_issues(
    report: RoundReport, simulation: Simulation, frames: pd.DataFrame, truth: pd.DataFrame
) -> pd.DataFrame:
    """Rank the first annotator's exported labels: cleanlab fed SIMULATED detector predictions."""
    from roadmark_pipeline.model.label_quality import find_label_issues

    labelled, first = _first_annotator(report, simulation, frames)
    return find_label_issues(labelled, first, simulated_detector(truth), class_names())


def _first_annotator(
    report: RoundReport, simulation: Simulation, frames: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The frames the first simulated annotator labelled and their exported boxes."""
    name = simulation.annotators[0]
    boxes = report.tables.boxes
    seen = report.tables.annotations
    labelled = frames[frames["frame_id"].isin(seen.loc[seen["annotator"] == name, "frame_id"])]
    return labelled.reset_index(drop=True), boxes[boxes["annotator"] == name]


def _review(
    project: LabelingProject, issues: pd.DataFrame, simulation: Simulation, n_review: int
) -> dict[str, Any]:
    """Send the worst frames back and count the planted errors among them."""
    batch = send_for_review(project, issues, n_review)
    planted = simulation.planted_frames(simulation.annotators[0])
    ranked = issues.sort_values("quality_score", kind="stable")["frame_id"].tolist()
    return {
        "annotator": simulation.annotators[0],
        "sent": len(batch.task_ids),
        "view_id": batch.view_id,
        "ranked_frames": len(ranked),
        "planted_frames": len(planted),
        "base_rate": len(planted) / max(len(ranked), 1),
        "precision_at_10": precision_at_n(ranked, planted, 10),
        f"precision_at_{n_review}": precision_at_n(ranked, planted, n_review),
    }


def write_round(result: SimulatedRound) -> None:
    """Write the round's tables (Parquet), figures (JSON) and ``summary.md`` to ``out_dir``."""
    out = result.out_dir
    report = result.report
    write_parquet_atomic(out / "consensus.parquet", report.consensus.boxes)
    write_parquet_atomic(out / "disagreements.parquet", report.consensus.disagreements)
    write_parquet_atomic(out / "agreement.parquet", report.agreement)
    write_parquet_atomic(out / "rates.parquet", report.rates)
    write_parquet_atomic(out / "planted.parquet", result.simulation.planted)
    write_json_atomic(out / "figures.json", {"recovery": report.recovery, "review": result.review})
    write_text_atomic(out / "summary.md", summary_markdown(result))
    LOG.info("SIMULATED round written to %s", out)


def summary_markdown(result: SimulatedRound) -> str:
    """The round as Markdown: recovery, agreement, disagreements, throughput, ETA."""
    report = result.report
    recovery = pd.DataFrame(report.recovery).T[["precision", "recall", "mean_iou", "matched"]]
    pooled = report.agreement[(report.agreement["slice"] == "all")]
    per_clip = report.agreement[
        (report.agreement["slice"] == "clip") & (report.agreement["class_name"] == "all")
    ]
    rates = report.rates[["annotator", "annotations", "per_hour_lead", "per_hour_active"]]
    parts = [
        "# SIMULATED labeling round (simulated annotators, not people)",
        f"Label Studio: {result.url}",
        "## Vote vs the shipped labels (IoU 0.5, same class)",
        recovery.to_markdown(floatfmt=".3f"),
        "## Each annotator vs the consensus (human-level estimate)",
        pooled.drop(columns=["slice", "slice_value"]).to_markdown(index=False, floatfmt=".3f"),
        "## Per clip (all classes)",
        per_clip.drop(columns=["slice"]).to_markdown(index=False, floatfmt=".3f"),
        "## Disagreements for adjudication",
        report.consensus.disagreements["kind"].value_counts().to_frame().to_markdown(),
        "## Planted errors",
        result.simulation.planted.groupby(["annotator", "kind"]).size().to_frame("n").to_markdown(),
        "## Throughput",
        "per_hour_lead: from Label Studio lead times (simulated for SIMULATED annotators); "
        "per_hour_active: from submission times (for SIMULATED annotators, API speed).",
        rates.to_markdown(index=False, floatfmt=".1f"),
        "## ETA per class",
        result.eta.to_markdown(index=False, floatfmt=".2f"),
    ]
    if result.review:
        parts += ["## Review batch", pd.Series(result.review).to_frame("value").to_markdown()]
    return "\n\n".join(parts) + "\n"
