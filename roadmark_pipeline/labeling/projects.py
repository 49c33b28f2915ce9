"""Finding or creating our Label Studio project by title, and the storage that serves its images."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from roadmark_pipeline.labeling.config import parse_label_config
from roadmark_pipeline.labeling.sdk import LabelingError, api_call

LOG = logging.getLogger(__name__)


def find_or_create_project(client: Any, title: str, label_config: str) -> Any:
    """Return the project with this title (the oldest if several), creating it when missing.

    Args:
        client: A ``label_studio_sdk.LabelStudio`` client.
        title: Project title, the idempotency key (at least 3 characters).
        label_config: Labeling config XML (``config.label_config_xml``).

    Returns:
        The SDK's project object.

    Raises:
        LabelingError: When an existing project with this title has other classes (ids would
            shift), or Label Studio refuses the config.
    """
    classes = parse_label_config(label_config)
    existing = [p for p in api_call("list projects", client.projects.list) if p.title == title]
    if not existing:
        project = api_call(
            f"create project {title!r}",
            client.projects.create,
            title=title,
            label_config=label_config,
            description="roadmark: damaged road markings (boxes in the class taxonomy)",
        )
        LOG.info("created Label Studio project %r (id %d)", title, project.id)
        return project

    project = min(existing, key=lambda p: p.id)
    if len(existing) > 1:
        LOG.warning("%d projects titled %r; using id %d", len(existing), title, project.id)
    current = parse_label_config(project.label_config)
    if current != classes:
        raise LabelingError(
            f"project {title!r} (id {project.id}) has classes {current}, not {classes}; "
            "class ids would shift — use a new title or migrate the project by hand"
        )
    LOG.info("using Label Studio project %r (id %d)", title, project.id)
    return project


def ensure_local_storage(
    client: Any, project_id: int, local_root: Path, document_root: Path
) -> None:
    """Make sure a local-files import storage of the project covers ``local_root``.

    Args:
        client: A ``label_studio_sdk.LabelStudio`` client.
        project_id: The project's id.
        local_root: Resolved folder holding the frames.
        document_root: Resolved local-files document root of the server.

    Raises:
        LabelingError: When ``local_root`` is not under ``document_root``, or Label Studio
            refuses the storage.
    """
    if not local_root.is_relative_to(document_root):
        raise LabelingError(
            f"local_root {local_root} is not under the document root "
            f"{document_root}; start Label Studio with a document_root above the frames"
        )
    storages = api_call("list local storages", client.import_storage.local.list, project=project_id)
    for storage in storages:
        if storage.path and local_root.is_relative_to(Path(storage.path)):
            return
    api_call(
        f"create local-files storage for {local_root}",
        client.import_storage.local.create,
        project=project_id,
        path=str(local_root),
        title="roadmark frames",
        use_blob_urls=True,
        description="frames served to the annotators; tasks are imported by roadmark",
    )
    LOG.info("project %d: local-files storage added for %s", project_id, local_root)
