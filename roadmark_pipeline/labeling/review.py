"""Sending the worst label issues back to Label Studio as review tasks annotators can filter on.

The ranking comes from the label-error search (cleanlab, in the model room): a table with
``frame_id, quality_score, issue_type``. The worst N frames' tasks get review fields in their
data (``review``, ``review_rank``, ``review_issue``, ``review_score``, ``review_batch``) and a
Data Manager tab "Review: label issues" shows exactly those tasks, worst first.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd

from roadmark_pipeline.labeling.sdk import LabelingError, api_call

LOG = logging.getLogger(__name__)

REVIEW_VALUE = "label_issue"
REVIEW_TAB = "Review: label issues"
REVIEW_FIELDS = ("review", "review_rank", "review_issue", "review_score", "review_batch")


@dataclass
class ReviewBatch:
    """What :func:`send_for_review` did.

    Attributes:
        batch: The batch id written to the tasks.
        frame_ids: The frames sent, worst first.
        task_ids: Their tasks.
        cleared: Tasks of earlier batches whose review fields were removed.
        view_id: The Data Manager tab that lists the batch.
        missing: Ranked frames that have no task in the project.
    """

    batch: str
    frame_ids: list[str]
    task_ids: list[int]
    cleared: int
    view_id: int
    missing: list[str]


def send_for_review(project: Any, issues: pd.DataFrame, n_worst: int = 20) -> ReviewBatch:
    """Mark the tasks of the ``n_worst`` frames for review and show them in a tab.

    Earlier review marks are removed first, so the tab always shows the latest ranking.

    Args:
        project: A ``LabelingProject``.
        issues: ``frame_id, quality_score`` (0 bad .. 1 clean) and ``issue_type``; optional
            ``is_issue`` — when present only flagged frames are sent.
        n_worst: How many frames to send.

    Returns:
        The :class:`ReviewBatch`.

    Raises:
        LabelingError: When ``issues`` lacks a column.
    """
    missing_columns = {"frame_id", "quality_score", "issue_type"} - set(issues.columns)
    if missing_columns:
        raise LabelingError(
            f"issues: missing columns {sorted(missing_columns)}; pass the label_issues table"
        )
    ranked = issues[issues["is_issue"].astype(bool)] if "is_issue" in issues else issues
    worst = ranked.sort_values("quality_score", kind="stable").head(max(n_worst, 0))

    tasks = {int(task.id): dict(task.data or {}) for task in project.tasks()}
    by_frame = project.task_ids_by_frame()
    batch = time.strftime("%Y%m%dT%H%M%S")
    cleared = _clear_marks(project, tasks, keep=set())

    sent_frames, sent_tasks, missing = [], [], []
    for rank, row in enumerate(worst.itertuples(index=False), start=1):
        task_id = by_frame.get(row.frame_id)
        if task_id is None:
            missing.append(row.frame_id)
            continue
        marks = {
            "review": REVIEW_VALUE,
            "review_rank": rank,
            "review_issue": str(row.issue_type or "low_quality"),
            "review_score": round(float(row.quality_score), 4),
            "review_batch": batch,
        }
        _update_data(project, task_id, {**tasks[task_id], **marks})
        sent_frames.append(row.frame_id)
        sent_tasks.append(task_id)

    view_id = ensure_review_tab(project)
    LOG.info(
        "review batch %s: %d tasks sent (%d earlier marks cleared, %d frames without task)",
        batch,
        len(sent_tasks),
        cleared,
        len(missing),
    )
    return ReviewBatch(batch, sent_frames, sent_tasks, cleared, view_id, missing)


def _clear_marks(project: Any, tasks: dict[int, dict[str, Any]], keep: set[int]) -> int:
    cleared = 0
    for task_id, data in tasks.items():
        if task_id in keep or not any(field in data for field in REVIEW_FIELDS):
            continue
        clean = {key: value for key, value in data.items() if key not in REVIEW_FIELDS}
        _update_data(project, task_id, clean)
        tasks[task_id] = clean
        cleared += 1
    return cleared


def _update_data(project: Any, task_id: int, data: dict[str, Any]) -> None:
    api_call(f"update task {task_id}", project.client.tasks.update, str(task_id), data=data)


def ensure_review_tab(project: Any) -> int:
    """Create (once) the Data Manager tab listing review tasks, worst first; return its id.

    Args:
        project: A ``LabelingProject``.
    """
    views = api_call("list views", project.client.views.list, project=project.id)
    for view in views:
        if (view.data or {}).get("title") == REVIEW_TAB:
            return int(view.id)
    view = api_call(
        "create review tab",
        project.client.views.create,
        project=project.id,
        data={
            "title": REVIEW_TAB,
            "filters": {
                "conjunction": "and",
                "items": [
                    {
                        "filter": "filter:tasks:data.review",
                        "operator": "equal",
                        "type": "String",
                        "value": REVIEW_VALUE,
                    }
                ],
            },
            "ordering": ["tasks:data.review_rank"],
        },
    )
    LOG.info("project %d: review tab %r created (view %d)", project.id, REVIEW_TAB, view.id)
    return int(view.id)


def review_frame_ids(project: Any) -> list[str]:
    """Frames currently marked for review, in rank order (as annotators see the tab).

    Args:
        project: A ``LabelingProject``.
    """
    marked = [
        (int(task.data["review_rank"]), str(task.data.get("frame_id")))
        for task in project.tasks()
        if (task.data or {}).get("review") == REVIEW_VALUE
    ]
    return [frame for _, frame in sorted(marked)]
