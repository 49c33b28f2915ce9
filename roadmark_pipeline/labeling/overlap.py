"""Overlap: n annotators per task on a share of the tasks, as Label Studio distributes them.

Label Studio's project settings ``maximum_annotations`` (annotators per task) and
``overlap_cohort_percentage`` (share of tasks that get that many) decide each task's
``overlap``; the server picks the cohort. We set the two numbers and read the result back.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from roadmark_pipeline.labeling.convert import task_frame_id
from roadmark_pipeline.labeling.sdk import LabelingError, api_call

LOG = logging.getLogger(__name__)


def configure_overlap(project: Any, annotators_per_task: int, share: float) -> dict[str, int]:
    """Ask for ``annotators_per_task`` annotators on ``share`` of the project's tasks.

    Args:
        project: A ``LabelingProject``.
        annotators_per_task: Annotators per overlapping task (1 turns overlap off).
        share: Share of tasks in the overlap cohort, in (0, 1]; the rest get one annotator.

    Returns:
        ``{frame_id: overlap}`` as the server assigned it.

    Raises:
        LabelingError: When the numbers are out of range.
    """
    if annotators_per_task < 1 or not 0 < share <= 1:
        raise LabelingError(
            f"overlap: annotators_per_task={annotators_per_task}, share={share}; need "
            "annotators_per_task >= 1 and 0 < share <= 1"
        )
    api_call(
        "set overlap",
        project.client.projects.update,
        id=project.id,
        maximum_annotations=int(annotators_per_task),
        overlap_cohort_percentage=int(round(share * 100)),
    )
    overlap = overlap_by_frame(project)
    cohort = sum(value > 1 for value in overlap.values())
    LOG.info(
        "project %d: %d annotators on %d of %d tasks (asked %.0f%%)",
        project.id,
        annotators_per_task,
        cohort,
        len(overlap),
        share * 100,
    )
    return overlap


def overlap_by_frame(project: Any) -> dict[str, int]:
    """Return ``{frame_id: overlap}``: how many annotators each task is meant to get.

    Args:
        project: A ``LabelingProject``.
    """
    overlap = {}
    for task in project.tasks():
        frame = task_frame_id({"data": task.data or {}, "meta": task.meta or {}})
        if frame is not None:
            overlap[frame] = int(task.overlap or 1)
    return overlap


def assign_annotators(overlap: dict[str, int], annotators: Sequence[str]) -> dict[str, list[str]]:
    """Decide who labels which frame, the way Label Studio's queue hands tasks out.

    Each task goes to ``overlap`` different annotators; the starting annotator rotates so the
    single-annotator tasks spread evenly over the team.

    Args:
        overlap: ``{frame_id: overlap}`` (from :func:`configure_overlap`).
        annotators: The team.

    Returns:
        ``{frame_id: [annotator, ...]}``.

    Raises:
        LabelingError: When a task needs more annotators than the team has.
    """
    if not annotators:
        raise LabelingError("no annotators given")
    team = list(annotators)
    plan: dict[str, list[str]] = {}
    for position, frame in enumerate(sorted(overlap)):
        needed = overlap[frame]
        if needed > len(team):
            raise LabelingError(
                f"frame {frame} needs {needed} annotators; the team has {len(team)}"
            )
        plan[frame] = [team[(position + k) % len(team)] for k in range(needed)]
    return plan
