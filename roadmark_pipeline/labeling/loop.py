"""One round of the labeling loop: annotations in, consensus, agreement and throughput out.

The Dagster assets call :func:`evaluate_round` on the export of the real server; the SIMULATED
demo first puts simulated annotators' work on that server with :func:`submit_simulation`, so the
round is measured exactly as it would be for people.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from roadmark_pipeline.labeling.agreement import agreement_table, frame_agreement, human_level
from roadmark_pipeline.labeling.consensus import DEFAULT_IOU, ConsensusResult, consensus_labels
from roadmark_pipeline.labeling.convert import ExportTables, parse_export
from roadmark_pipeline.labeling.sdk import ensure_annotator
from roadmark_pipeline.labeling.simulate import Simulation, recovery, simulated_display_name
from roadmark_pipeline.labeling.throughput import annotation_rates

LOG = logging.getLogger(__name__)


@dataclass
class RoundReport:
    """What one round of labeling produced.

    Attributes:
        tables: The parsed export.
        consensus: The vote (boxes, disagreements, per-frame counts).
        agreement: Each annotator against the consensus, per class and slice.
        human_level: Per class: mean/min/max annotator F1, pooled precision and recall.
        frame_agreement: Per frame agreement (0..1), for the model room's error analysis.
        rates: Annotations per hour per annotator.
        recovery: With a truth: the consensus against it, and each annotator alone against it.
    """

    tables: ExportTables
    consensus: ConsensusResult
    agreement: pd.DataFrame
    human_level: pd.DataFrame
    frame_agreement: pd.Series
    rates: pd.DataFrame
    recovery: dict[str, dict[str, Any]] = field(default_factory=dict)


def evaluate_round(
    export: list[dict[str, Any]],
    class_names: Sequence[str],
    *,
    frames: pd.DataFrame | None = None,
    slice_columns: Sequence[str] = (),
    truth: pd.DataFrame | None = None,
    iou_threshold: float = DEFAULT_IOU,
) -> RoundReport:
    """Parse an export and compute consensus, agreement, human level and throughput.

    Args:
        export: The project's JSON export (``LabelingProject.export()``).
        class_names: Class names in id order (the labeling config's).
        frames: Frames table for slicing the agreement (``frame_id`` + ``slice_columns``).
        slice_columns: Frame columns to break agreement down by (e.g. ``camera_model``).
        truth: Known true boxes (the SIMULATED demo): adds recovery figures.
        iou_threshold: IoU at which two annotators' boxes are the same object.

    Returns:
        The :class:`RoundReport`.
    """
    tables = parse_export(export, class_names)
    consensus = consensus_labels(
        tables.boxes, tables.annotations, class_names, iou_threshold=iou_threshold
    )
    agreement = agreement_table(consensus, class_names, frames, slice_columns)
    report = RoundReport(
        tables=tables,
        consensus=consensus,
        agreement=agreement,
        human_level=human_level(agreement),
        frame_agreement=frame_agreement(consensus),
        rates=annotation_rates(tables.annotations),
    )
    if truth is not None:
        report.recovery = _recovery(tables, consensus, truth)
    return report


def _recovery(
    tables: ExportTables, consensus: ConsensusResult, truth: pd.DataFrame
) -> dict[str, dict[str, Any]]:
    """Consensus and each single annotator against the truth, on the frames they labelled."""
    voted = consensus.frames["frame_id"]
    figures = {"consensus": recovery(consensus.boxes, truth[truth["frame_id"].isin(voted)])}
    for name, own in tables.annotations.groupby("annotator"):
        seen = set(own.loc[~own["was_cancelled"].astype(bool), "frame_id"])
        boxes = tables.boxes[tables.boxes["annotator"] == name]
        figures[str(name)] = recovery(boxes, truth[truth["frame_id"].isin(seen)])
    return figures


def submit_simulation(project: Any, simulation: Simulation) -> int:
    """Submit the SIMULATED annotators' work to Label Studio, one annotation per frame each.

    The simulated users are created with the display name "SIMULATED annotator <i>". Frames an
    annotator already annotated are skipped, so a second call submits nothing.

    Args:
        project: A ``LabelingProject`` whose tasks hold the simulated frames.
        simulation: From ``simulate.simulate_annotators``.

    Returns:
        The number of annotations submitted.
    """
    for email in simulation.annotators:
        first, last = simulated_display_name(email)
        ensure_annotator(project.client, email, first_name=first, last_name=last)

    tables = parse_export(project.export(), project.class_names)
    live = tables.annotations[~tables.annotations["was_cancelled"].astype(bool)]
    done = set(zip(live["annotator"], live["frame_id"], strict=True))
    by_key = {key: group for key, group in simulation.boxes.groupby(["annotator", "frame_id"])}

    submitted = 0
    for row in simulation.lead_times.itertuples(index=False):
        if (row.annotator, row.frame_id) in done:
            continue
        boxes = by_key.get((row.annotator, row.frame_id), simulation.boxes.iloc[0:0])
        project.submit_annotation(
            row.frame_id, boxes, annotator=row.annotator, lead_time_s=row.lead_time_s
        )
        submitted += 1
    LOG.info(
        "SIMULATED annotators: %d annotations submitted, %d already there", submitted, len(done)
    )
    return submitted
