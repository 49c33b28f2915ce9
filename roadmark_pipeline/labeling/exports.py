"""Pulling a project's JSON export from Label Studio, whole or split per annotator."""

from __future__ import annotations

import copy
import json
import logging
import time
from typing import Any

from roadmark_pipeline.labeling.convert import annotator_name
from roadmark_pipeline.labeling.sdk import LabelingError, api_call

LOG = logging.getLogger(__name__)

EXPORT_TIMEOUT_S = 120.0


def download_export(client: Any, project_id: int, *, timeout_s: float = EXPORT_TIMEOUT_S) -> list:
    """Export every task of a project as Label Studio JSON through an export snapshot.

    All tasks come out (annotated or not), cancelled and ground-truth annotations included,
    ``completed_by`` expanded to the user (id, e-mail, names) and predictions in full.

    Args:
        client: A ``label_studio_sdk.LabelStudio`` client.
        project_id: The project.
        timeout_s: How long to wait for the server to build the snapshot.

    Returns:
        The export: a list of task dicts.

    Raises:
        LabelingError: When the snapshot fails or does not finish in time.
    """
    exports = client.projects.exports
    snapshot = api_call(
        "create export",
        exports.create,
        project_id,
        title=f"roadmark {time.strftime('%Y-%m-%dT%H:%M:%S')}",
        serialization_options={
            "annotations__completed_by": {"only_id": False},
            "predictions": {"only_id": False},
        },
        task_filter_options={"only_with_annotations": False},
        annotation_filter_options={"usual": True, "ground_truth": True, "skipped": True},
    )
    deadline = time.monotonic() + timeout_s
    while snapshot.status not in ("completed", "failed"):
        if time.monotonic() > deadline:
            raise LabelingError(f"export {snapshot.id} of project {project_id} did not finish")
        time.sleep(0.2)
        snapshot = api_call("poll export", exports.get, project_id, export_pk=snapshot.id)
    if snapshot.status == "failed":
        raise LabelingError(f"export {snapshot.id} of project {project_id} failed on the server")

    chunks = api_call(
        "download export", exports.download, project_id, snapshot.id, export_type="JSON"
    )
    tasks = list(json.loads(b"".join(chunks)))
    LOG.info("project %d: exported %d tasks", project_id, len(tasks))
    return tasks


def split_by_annotator(export: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Split an export into one export per annotator.

    Label Studio's community edition cannot filter an export by annotator, so the whole export
    is pulled once and split here. Each annotator's export keeps every task that annotator
    touched (cancelled ones included), with only that annotator's annotations.

    Args:
        export: A JSON export (``completed_by`` expanded or as ids).

    Returns:
        ``{annotator e-mail: export}``, annotators sorted by name.
    """
    per_annotator: dict[str, list[dict[str, Any]]] = {}
    for task in export:
        by_name: dict[str, list[dict[str, Any]]] = {}
        for annotation in task.get("annotations") or []:
            name = annotator_name(annotation.get("completed_by"))
            by_name.setdefault(name, []).append(annotation)
        for name, mine in by_name.items():
            own = copy.deepcopy({key: value for key, value in task.items() if key != "annotations"})
            own["annotations"] = copy.deepcopy(mine)
            per_annotator.setdefault(name, []).append(own)
    LOG.info(
        "export split over %d annotators: %s",
        len(per_annotator),
        {name: len(tasks) for name, tasks in sorted(per_annotator.items())},
    )
    return dict(sorted(per_annotator.items()))
