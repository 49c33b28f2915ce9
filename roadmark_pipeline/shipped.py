"""The real data shipped in the repository: clips, stills and their silver labels.

The label file keys clip frames by the source file's sha256 and frame index, which is exactly our
frame id. The six stills are keyed by their original files' hashes, which differ from the
re-encoded copies we ship, so they are matched by file name and re-keyed to the shipped copy
(a still is a one-frame source, frame index 0).
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

import pandas as pd

from roadmark_pipeline.ids import sha256_file
from roadmark_pipeline.labeling.convert import parse_export
from roadmark_pipeline.taxonomy import class_names

LOG = logging.getLogger(__name__)

REPO_DATA = Path(__file__).resolve().parents[1] / "data"
LABELS_FILE = "labels/annotations.labelstudio.json"


def shipped_sources(data_dir: Path = REPO_DATA) -> list[Path]:
    """Return the shipped clips and stills, clips first, each list sorted by name."""
    return sorted((data_dir / "videos").glob("*.mp4")) + sorted((data_dir / "stills").glob("*.jpg"))


def shipped_export(data_dir: Path = REPO_DATA) -> list[dict]:
    """Return the shipped Label Studio export with every task keyed to a shipped source.

    Raises:
        FileNotFoundError: When the label file or a still it names is missing from ``data_dir``.
    """
    path = data_dir / LABELS_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path}: shipped label file missing; restore data/ from git")
    tasks = json.loads(path.read_text())
    still_hashes = {p.name: sha256_file(p) for p in (data_dir / "stills").glob("*.jpg")}

    keyed = []
    for task in tasks:
        task = copy.deepcopy(task)
        meta = task.setdefault("meta", {})
        if meta.get("frame_index") == "still":
            name = Path(task["data"]["image"]).name
            if name not in still_hashes:
                raise FileNotFoundError(f"{data_dir / 'stills' / name}: still named by the labels")
            meta["source_sha256"], meta["frame_index"] = still_hashes[name], 0
        keyed.append(task)
    return keyed


def shipped_boxes(data_dir: Path = REPO_DATA) -> pd.DataFrame:
    """Return the shipped silver boxes as a boxes table keyed by our frame ids (pixels)."""
    tables = parse_export(shipped_export(data_dir), class_names())
    LOG.info(
        "shipped labels: %d boxes on %d frames",
        len(tables.boxes),
        tables.tasks["frame_id"].nunique(),
    )
    return tables.boxes
