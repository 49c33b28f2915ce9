"""One Label Studio project for our frames: tasks, pre-annotations, annotations, exports.

Tasks are keyed by frame id (``data.frame_id``): importing the same frames twice adds nothing.
Images are served by Label Studio from a local-files storage as
``/data/local-files/?d=<path relative to the server's document root>``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from roadmark_pipeline.labeling.config import parse_label_config
from roadmark_pipeline.labeling.convert import parse_export, task_frame_id
from roadmark_pipeline.labeling.exports import download_export, split_by_annotator
from roadmark_pipeline.labeling.projects import ensure_local_storage, find_or_create_project
from roadmark_pipeline.labeling.results import boxes_to_results, predictions_by_frame, table_records
from roadmark_pipeline.labeling.sdk import (
    LabelingError,
    annotator_email,
    api_call,
    ensure_annotator,
)
from roadmark_pipeline.labeling.tasks import build_task, check_import_inputs, local_files_url

LOG = logging.getLogger(__name__)

_IMPORT_BATCH = 500


class LabelingProject:
    """A Label Studio project holding our frames as tasks.

    Use :meth:`ensure` to get one; the constructor only wraps an existing project. ``url`` is
    the server's base URL: the project's data view is ``{url}/projects/{id}/data``.

    Args:
        client: A ``label_studio_sdk.LabelStudio`` client (from ``server.connect``).
        project_id: The project's id.
        label_config: Its labeling config XML.
        local_root: Folder under which the frames live.
        document_root: The server's local-files document root (``d=`` paths are relative to it).
    """

    def __init__(
        self,
        client: Any,
        project_id: int,
        label_config: str,
        *,
        local_root: Path,
        document_root: Path | None = None,
    ) -> None:
        self.client = client
        self.id = int(project_id)
        self.url = _base_url(client)
        self.label_config = label_config
        self.class_names = parse_label_config(label_config)
        self.local_root = Path(local_root).resolve()
        self.document_root = Path(document_root).resolve() if document_root else self.local_root
        self._users: dict[str, int] = {}
        self._task_data: dict[str, tuple[int, dict[str, Any]]] = {}

    @classmethod
    def ensure(
        cls,
        client: Any,
        title: str,
        label_config: str,
        *,
        local_root: Path,
        document_root: Path | None = None,
    ) -> LabelingProject:
        """Return the project with this title, creating it (and its image storage) if needed.

        Args:
            client: A ``label_studio_sdk.LabelStudio`` client.
            title: Project title, the idempotency key (at least 3 characters).
            label_config: Labeling config XML (``config.label_config_xml``).
            local_root: Folder holding the frames; a local-files import storage covering it is
                created so the browser can load the images.
            document_root: The server's ``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT``; defaults to
                ``local_root``. Must be ``local_root`` or a folder above it.

        Returns:
            The project.

        Raises:
            LabelingError: When an existing project with this title has other classes (ids
                would shift), or Label Studio refuses the config or the storage.
        """
        project = find_or_create_project(client, title, label_config)
        labeling = cls(
            client, project.id, label_config, local_root=local_root, document_root=document_root
        )
        ensure_local_storage(client, labeling.id, labeling.local_root, labeling.document_root)
        return labeling

    def image_url(self, path: str | Path) -> str:
        """Return the Label Studio URL of a frame file.

        Args:
            path: Absolute path of the image, under ``local_root``.

        Returns:
            ``/data/local-files/?d=<path relative to the document root>``.

        Raises:
            LabelingError: When the file lies outside ``local_root``.
        """
        return local_files_url(path, self.local_root, self.document_root)

    def import_frames(
        self,
        frames: pd.DataFrame,
        predictions: pd.DataFrame | None = None,
        model_version: str | None = None,
    ) -> int:
        """Import frames as tasks, skipping frames already in the project.

        Args:
            frames: Columns ``frame_id, path`` (absolute, under ``local_root``), ``width, height``
                (upright pixels) and any metadata (``source_sha256``, ``frame_index``,
                ``camera_model`` ...) that is carried in the task data.
            predictions: Optional boxes table ``frame_id, class_id, x1, y1, x2, y2`` (pixels),
                ``score``: pre-annotations annotators correct instead of drawing.
            model_version: Name of the model that made ``predictions`` (required with them).

        Returns:
            The number of new tasks.

        Raises:
            LabelingError: When a required column is missing, a frame id repeats, or
                predictions come without a model version.
        """
        check_import_inputs(frames, predictions, model_version)

        existing = self.task_ids_by_frame()
        new = frames[~frames["frame_id"].isin(list(existing))]
        by_frame = predictions_by_frame(predictions)
        payload = [self._task_payload(row, by_frame, model_version) for row in table_records(new)]
        for start in range(0, len(payload), _IMPORT_BATCH):
            batch = payload[start : start + _IMPORT_BATCH]
            api_call("import tasks", self.client.projects.import_tasks, id=self.id, request=batch)
        with_predictions = sum(bool(task.get("predictions")) for task in payload)
        if with_predictions:  # Label Studio refuses a model version no task carries
            self._use_predictions(str(model_version))
        LOG.info(
            "project %d: imported %d new tasks (%d frames already there), %d with predictions",
            self.id,
            len(payload),
            len(frames) - len(new),
            with_predictions,
        )
        return len(payload)

    def _task_payload(
        self, row: dict[str, Any], predictions: dict[str, pd.DataFrame], model_version: str | None
    ) -> dict[str, Any]:
        """One task to import for a frame row (see :func:`tasks.build_task`)."""
        boxes = predictions.get(str(row["frame_id"]))
        url = self.image_url(row["path"])
        return build_task(row, url, boxes, model_version, self.class_names)

    def _use_predictions(self, model_version: str) -> None:
        """Show this model version's predictions as pre-annotations in the labeling view."""
        api_call(
            "set model version",
            self.client.projects.update,
            id=self.id,
            model_version=model_version,
            show_collab_predictions=True,
        )

    def tasks(self) -> list[Any]:
        """Every task of the project (data, overlap, counts; no annotations)."""
        pager = api_call(
            "list tasks",
            self.client.tasks.list,
            project=self.id,
            page_size=1000,
            fields="task_only",
        )
        return list(pager)

    def task_ids_by_frame(self) -> dict[str, int]:
        """Return ``{frame_id: task_id}`` over the project's tasks that carry a frame id."""
        self._task_data = {}
        for task in self.tasks():
            data = dict(task.data or {})
            frame = task_frame_id({"data": data, "meta": task.meta or {}})
            if frame is not None and frame not in self._task_data:
                self._task_data[frame] = (int(task.id), data)
        return {frame: task_id for frame, (task_id, _) in self._task_data.items()}

    def _task(self, frame_id: str) -> tuple[int, dict[str, Any]]:
        """Task id and data of a frame, from the cache (refreshed once on a miss)."""
        if frame_id not in self._task_data:
            self.task_ids_by_frame()
        if frame_id not in self._task_data:
            raise LabelingError(
                f"frame {frame_id!r} has no task in project {self.id}; import_frames() first"
            )
        return self._task_data[frame_id]

    def annotator_id(self, annotator: str) -> int:
        """Return the Label Studio user id of an annotator, creating the user if needed.

        Args:
            annotator: The annotator's e-mail (a bare name gets ``@annotators.roadmark.local``).

        Returns:
            The user id.
        """
        email = annotator_email(annotator)
        if email not in self._users:
            self._users[email] = ensure_annotator(self.client, email)
        return self._users[email]

    def submit_annotation(
        self,
        frame_id: str,
        boxes: pd.DataFrame,
        *,
        annotator: str,
        lead_time_s: float | None = None,
    ) -> int:
        """Submit a completed annotation for one frame, attributed to an annotator.

        Args:
            frame_id: The frame's id (its task must exist).
            boxes: ``class_id, x1, y1, x2, y2`` pixels of the upright frame, optional
                ``borderline`` (bool); an empty table records "reviewed, nothing to label".
            annotator: E-mail of the annotator (a Label Studio user, created when missing).
            lead_time_s: Seconds spent on the task, when known.

        Returns:
            The new annotation's id.

        Raises:
            LabelingError: When the frame has no task.
            ValueError: When a class id is outside the project's classes.
        """
        task_id, data = self._task(frame_id)
        width, height = int(data["width"]), int(data["height"])
        result = boxes_to_results(boxes, width, height, self.class_names)
        extra = {} if lead_time_s is None else {"lead_time": float(lead_time_s)}
        annotation = api_call(
            f"annotate {frame_id}",
            self.client.annotations.create,
            id=task_id,
            result=result,
            completed_by=self.annotator_id(annotator),
            was_cancelled=False,
            **extra,
        )
        return int(annotation.id)

    def skip_frame(self, frame_id: str, *, annotator: str) -> int:
        """Record that an annotator skipped (cancelled) a frame.

        Args:
            frame_id: The frame's id.
            annotator: E-mail of the annotator.

        Returns:
            The id of the cancelled annotation.
        """
        task_id, _ = self._task(frame_id)
        annotation = api_call(
            f"skip {frame_id}",
            self.client.annotations.create,
            id=task_id,
            result=[],
            completed_by=self.annotator_id(annotator),
            was_cancelled=True,
        )
        return int(annotation.id)

    def progress(self) -> dict[str, int]:
        """Cheap counters of the project (one request), e.g. for a sensor's cursor.

        Returns:
            ``tasks``, ``tasks_with_annotations``, ``finished_tasks``, ``annotations``,
            ``skipped_annotations`` and ``predictions``.
        """
        project = api_call("get project", self.client.projects.get, self.id)
        fields = {
            "tasks": "task_number",
            "tasks_with_annotations": "num_tasks_with_annotations",
            "finished_tasks": "finished_task_number",
            "annotations": "total_annotations_number",
            "skipped_annotations": "skipped_annotations_number",
            "predictions": "total_predictions_number",
        }
        return {key: int(getattr(project, name, 0) or 0) for key, name in fields.items()}

    def export(self) -> list[dict[str, Any]]:
        """Export every task as Label Studio JSON (see ``exports.download_export``).

        Returns:
            The export: all tasks, cancelled annotations included, ``completed_by`` expanded to
            the user and predictions in full.
        """
        return download_export(self.client, self.id)

    def export_by_annotator(self) -> dict[str, list[dict[str, Any]]]:
        """Export the project once and split it per annotator (see ``split_by_annotator``).

        Returns:
            ``{annotator e-mail: that annotator's export}``.
        """
        return split_by_annotator(self.export())

    def annotated_frame_ids(self, annotator: str | None = None) -> set[str]:
        """Return the frames with at least one completed (not cancelled) annotation.

        Args:
            annotator: Only count this annotator's annotations (e-mail); all when omitted.

        Returns:
            The frame ids.
        """
        annotations = parse_export(self.export(), self.class_names).annotations
        live = annotations[~annotations["was_cancelled"].astype(bool)]
        if annotator is not None:
            live = live[live["annotator"] == annotator_email(annotator)]
        return {str(frame) for frame in live["frame_id"].dropna()}


def _base_url(client: Any) -> str:
    """The server URL a client talks to (for links to the project)."""
    wrapper = getattr(client, "_client_wrapper", None)
    return str(wrapper.get_base_url()).rstrip("/") if wrapper is not None else ""
