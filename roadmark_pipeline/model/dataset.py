"""Dataset versions: a grouped split written as an immutable, content-hashed YOLO folder.

A version folder holds ``images/<split>/``, ``labels/<split>/`` (one ``.txt`` per image, empty
for background frames), ``data.yaml`` (class names in taxonomy order), ``manifest.parquet``
(frame_id -> split, files, hashes) and a data card (``card.json``, ``card.md``). Its name is the
hash of what it contains, so the same frames, labels, split and classes always give the same
version, and a version once written is never changed.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from roadmark_pipeline.ids import sha256_file, split_frame_id
from roadmark_pipeline.lake import staged_dir, write_json_atomic, write_parquet_atomic
from roadmark_pipeline.model.datacard import DataCard, build_data_card
from roadmark_pipeline.model.splitting import (
    SPLITS,
    SplitConfig,
    SplitError,
    SplitResult,
    split_frames,
)

__all__ = [
    "DatasetError",
    "DatasetInfo",
    "SplitConfig",
    "SplitError",
    "SplitResult",
    "split_frames",
    "write_yolo_dataset",
    "yolo_label_line",
]

LOG = logging.getLogger(__name__)

VERSION_CHARS = 16
_MICRO = 1_000_000


class DatasetError(ValueError):
    """A dataset version cannot be written from the given tables."""


@dataclass
class DatasetInfo:
    """What :func:`write_yolo_dataset` wrote.

    Attributes:
        version: Content hash (16 hex) of images, labels, split and class names.
        root: The version folder.
        data_yaml: Its ``data.yaml``, ready for training.
        counts: Boxes and frames per (split, class).
        n_frames: Frames per split.
        card: The data card (counts per class per split and per slice, warnings).
        warnings: Notes carried from the split and from writing (dropped boxes).
    """

    version: str
    root: Path
    data_yaml: Path
    counts: pd.DataFrame
    n_frames: dict[str, int]
    card: DataCard
    warnings: list[str] = field(default_factory=list)


def image_name(fid: str) -> str:
    """Return the file stem of a frame inside a dataset: ``<source key>_<index:06d>``."""
    key, index = split_frame_id(fid)
    return f"{key}_{index:06d}"


def _micro_edges(low: float, high: float, size: float) -> tuple[int, int]:
    """Clip a pixel interval to the image and round it inward to millionths of the size."""
    low_micro = math.ceil(max(0.0, min(low, size)) / size * _MICRO)
    high_micro = math.floor(max(0.0, min(high, size)) / size * _MICRO)
    if (high_micro - low_micro) % 2:
        high_micro -= 1
    return low_micro, high_micro


def yolo_label_line(class_index: int, xyxy: Sequence[float], width: int, height: int) -> str | None:
    """Format one pixel box as a YOLO line whose edges never pass the image border.

    Edges are clipped to the image and rounded inward to 1e-6 of its size with an even width,
    so ``cx + w/2`` and ``cy + h/2`` stay <= 1 exactly as written.

    Returns:
        ``"<class> <cx> <cy> <w> <h>"`` with six decimals, or None for a box of no area.
    """
    left, right = _micro_edges(xyxy[0], xyxy[2], width)
    top, bottom = _micro_edges(xyxy[1], xyxy[3], height)
    if right <= left or bottom <= top:
        return None
    cx, cy = (left + right) // 2, (top + bottom) // 2
    w, h = right - left, bottom - top
    return f"{class_index} {cx / _MICRO:.6f} {cy / _MICRO:.6f} {w / _MICRO:.6f} {h / _MICRO:.6f}"


def _label_texts(
    frames: pd.DataFrame, boxes: pd.DataFrame, n_classes: int
) -> tuple[dict[str, str], list[str]]:
    """Build every frame's label file content; report boxes dropped for no area or bad class."""
    sizes = frames.set_index("frame_id")[["width", "height"]]
    lines: dict[str, list[str]] = {fid: [] for fid in frames["frame_id"]}
    dropped: list[str] = []
    for row in boxes.itertuples(index=False):
        if not 0 <= int(row.class_id) < n_classes:
            raise DatasetError(
                f"box on {row.frame_id} has class_id {row.class_id}; ids must index the "
                f"{n_classes} class names passed in"
            )
        width, height = sizes.loc[row.frame_id]
        line = yolo_label_line(int(row.class_id), (row.x1, row.y1, row.x2, row.y2), width, height)
        if line is None:
            dropped.append(f"{row.frame_id}: box {row.x1, row.y1, row.x2, row.y2} has no area")
        else:
            lines[row.frame_id].append(line)
    return {fid: "".join(f"{line}\n" for line in rows) for fid, rows in lines.items()}, dropped


def _manifest(frames: pd.DataFrame, assignment: pd.Series, labels: dict[str, str]) -> pd.DataFrame:
    """One row per frame: split, file stem, source image path and content hashes."""
    rows = []
    for frame in frames.itertuples(index=False):
        rows.append(
            {
                "frame_id": frame.frame_id,
                "split": assignment[frame.frame_id],
                "name": image_name(frame.frame_id),
                "source_path": str(frame.path),
                "image_sha256": sha256_file(frame.path),
                "label_sha256": hashlib.sha256(labels[frame.frame_id].encode()).hexdigest(),
            }
        )
    return pd.DataFrame(rows).sort_values("frame_id", ignore_index=True)


def dataset_version(manifest: pd.DataFrame, class_names: Sequence[str]) -> str:
    """Hash class names and each frame's split, image and label content into 16 hex chars."""
    digest = hashlib.sha256()
    digest.update("\n".join(class_names).encode())
    for row in manifest.itertuples(index=False):
        digest.update(
            f"\n{row.frame_id}|{row.split}|{row.image_sha256}|{row.label_sha256}".encode()
        )
    return digest.hexdigest()[:VERSION_CHARS]


def _check_assignment(frames: pd.DataFrame, assignment: pd.Series) -> None:
    missing = sorted(set(frames["frame_id"]) - set(assignment.index))
    if missing:
        raise DatasetError(
            f"{len(missing)} frames have no split (e.g. {missing[:3]}); pass the assignment "
            "from split_frames for these frames"
        )
    bad = sorted(set(assignment.loc[frames["frame_id"]]) - set(SPLITS))
    if bad:
        raise DatasetError(f"unknown split name(s) {bad}; use {list(SPLITS)}")
    if not (assignment.loc[frames["frame_id"]] == "train").any():
        raise DatasetError("no frame is assigned to train; a dataset needs training frames")
    absent = [path for path in frames["path"] if not Path(path).is_file()]
    if absent:
        raise DatasetError(f"{len(absent)} frame images are missing (e.g. {absent[0]})")


def _link_or_copy(source: Path, target: Path) -> None:
    """Hard-link ``source`` to ``target`` (no copy on one file system), else copy it."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _data_yaml(manifest: pd.DataFrame, class_names: Sequence[str]) -> dict:
    """The ultralytics dataset description, relative to the version folder."""
    present = set(manifest["split"])
    description = {
        "train": "images/train",
        # Without a val split, ultralytics picks best.pt on the training frames, never on test.
        "val": "images/val" if "val" in present else "images/train",
        "nc": len(class_names),
        "names": dict(enumerate(class_names)),
    }
    if "test" in present:
        description["test"] = "images/test"
    return description


def _fill_version(
    stage: Path, manifest: pd.DataFrame, labels: dict[str, str], class_names: Sequence[str]
) -> None:
    """Write images, labels and data.yaml into the staging folder."""
    for split in sorted(set(manifest["split"])):
        (stage / "images" / split).mkdir(parents=True)
        (stage / "labels" / split).mkdir(parents=True)
    for row in manifest.itertuples(index=False):
        suffix = Path(row.source_path).suffix.lower() or ".jpg"
        _link_or_copy(Path(row.source_path), stage / "images" / row.split / f"{row.name}{suffix}")
        (stage / "labels" / row.split / f"{row.name}.txt").write_text(labels[row.frame_id])
    text = yaml.safe_dump(_data_yaml(manifest, class_names), sort_keys=False)
    (stage / "data.yaml").write_text(text)


def write_yolo_dataset(
    frames: pd.DataFrame,
    boxes: pd.DataFrame,
    assignment: pd.Series,
    class_names: Sequence[str],
    out_dir: Path,
    *,
    warnings: Sequence[str] = (),
    slice_columns: Sequence[str] | None = None,
) -> DatasetInfo:
    """Write a dataset version (YOLO layout, data card) under ``out_dir/<version>/``.

    The version is the content hash of the images, labels, split and class names; if that
    version already exists it is reused untouched (versions are immutable). A new version is
    built in a staging folder and renamed into place, so a crash leaves no half version.

    Args:
        frames: ``frame_id, path, width, height`` and slice columns.
        boxes: ``frame_id, class_id, x1, y1, x2, y2`` in pixels.
        assignment: frame_id -> split, from :func:`split_frames`.
        class_names: Taxonomy order; YOLO ids and ``data.yaml`` names follow it.
        out_dir: The datasets root (e.g. ``<lake>/datasets``).
        warnings: Split warnings to carry into the data card.
        slice_columns: Frames columns to count in the card; the known slice columns present
            when omitted.

    Returns:
        Version, paths, counts and the data card.

    Raises:
        DatasetError: When a frame has no split, an image is missing or a class id is invalid.
    """
    _check_assignment(frames, assignment)
    labels, dropped = _label_texts(frames, boxes, len(class_names))
    manifest = _manifest(frames, assignment, labels)
    version = dataset_version(manifest, class_names)
    root = Path(out_dir) / version
    notes = [*warnings, *(f"dropped {item}" for item in dropped)]
    card = build_data_card(
        frames, boxes, assignment, class_names, version, notes, slice_columns=slice_columns
    )

    if (root / "data.yaml").is_file():
        LOG.info("dataset version %s exists at %s; reused unchanged", version, root)
    else:
        with staged_dir(root) as stage:
            _fill_version(stage, manifest, labels, class_names)
            write_parquet_atomic(stage / "manifest.parquet", manifest)
            write_json_atomic(stage / "card.json", card.to_dict())
            (stage / "card.md").write_text(card.to_markdown())
        LOG.info("dataset version %s written: %s", version, card.n_frames)

    return DatasetInfo(
        version=version,
        root=root,
        data_yaml=root / "data.yaml",
        counts=card.counts,
        n_frames=card.n_frames,
        card=card,
        warnings=notes,
    )
