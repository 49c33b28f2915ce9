"""What ``ls-to-yolo`` checks before it writes: the export's labels, and the output folder.

An export none of whose labels is in the config would become a dataset of background images,
so it is refused; so is an export without tasks. OUT_DIR is replaced as a whole, so only a
missing or empty folder, or a previous output of ours, may be used: anything else in it would be
deleted (``labels/``) or trained as background (an image in ``images/`` without a label file).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from roadmark_pipeline.cli_support import file_in_the_way
from roadmark_pipeline.labeling.convert import task_annotations

IMAGES_DIR = "images"
LABELS_DIR = "labels"
INDEX_FILE = "images.csv"
DATA_YAML = "data.yaml"
_BOX_TYPES = {"rectanglelabels": "rectanglelabels", "labels": "labels"}
_SHOWN = 4


class LabelMismatchError(ValueError):
    """No label drawn in the export is a class of the labeling config (or class list)."""


def check_has_tasks(export: list[Any]) -> None:
    """Refuse an export without tasks (it would make an empty dataset).

    Args:
        export: The parsed export, already checked to be a list.

    Raises:
        ValueError: When it holds no task.
    """
    if not export:
        raise ValueError(
            "the export holds no tasks: export again from the project (Export, JSON) once its "
            "tasks are imported and labelled"
        )


def check_labels_match(export: list[Any], names: Sequence[str]) -> None:
    """Refuse an export whose drawn labels are all missing from the class list ``names``.

    Args:
        export: The parsed export (a list of task objects).
        names: The classes of the labeling config, in id order.

    Raises:
        LabelMismatchError: When boxes are drawn and none of their labels is in ``names``.
    """
    drawn = set(_drawn_labels(export))
    if drawn and not drawn & set(names):
        raise LabelMismatchError(
            f"their labels don't match: the export has {_few(sorted(drawn))}, the config "
            f"{_few(list(names))}; pass the labeling config of the project it was exported from"
        )


def _drawn_labels(export: list[Any]) -> Iterator[str]:
    """The first label of every box region of every live annotation (malformed ones skipped)."""
    for task in export:
        for annotation in task_annotations(task):
            if not isinstance(annotation, dict) or annotation.get("was_cancelled"):
                continue
            results = annotation.get("result")
            for result in results if isinstance(results, list) else []:
                if not isinstance(result, dict) or result.get("type") not in _BOX_TYPES:
                    continue
                value = result.get("value")
                labels = value.get(_BOX_TYPES[result["type"]]) if isinstance(value, dict) else None
                if isinstance(labels, list) and labels and isinstance(labels[0], str):
                    yield labels[0]


def _few(labels: list[str]) -> str:
    shown = ", ".join(repr(label) for label in labels[:_SHOWN])
    return shown + (f" and {len(labels) - _SHOWN} more" if len(labels) > _SHOWN else "")


def out_dir_problem(out_dir: Path) -> str | None:
    """Say why ``ls-to-yolo`` must not write into ``out_dir``, or None when it may.

    Args:
        out_dir: The OUT_DIR argument.

    Returns:
        A one-line message naming the folder and the fix, or None for a missing or empty folder
        or a previous output of ``ls-to-yolo`` (see :func:`foreign_entries`).
    """
    fix = "pass a new or empty folder, or a previous ls-to-yolo output to replace"
    try:
        blocking = file_in_the_way(out_dir)
        if blocking == out_dir:
            return f"{out_dir}: is a file, not a folder; {fix}"
        if blocking is not None:
            return f"{out_dir}: {blocking} is a file, so no folder can be made there; {fix}"
        foreign = foreign_entries(out_dir) if out_dir.is_dir() else []
    except OSError as error:
        return f"{out_dir}: cannot use it ({error.strerror}); pass a shorter or readable path"
    if not foreign:
        return None
    shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
    return (
        f"{out_dir}: folder holds files that are not a previous ls-to-yolo output ({shown}); "
        f"writing there would delete them or train their images as background; {fix}"
    )


def foreign_entries(folder: Path) -> list[str]:
    """What in ``folder`` is not a previous ``ls-to-yolo`` output (paths relative to it).

    A previous output has ``data.yaml`` and ``images.csv``, and otherwise only ``labels/`` and
    ``images/`` holding the label and image file names ``images.csv`` lists (hidden staging
    folders of an interrupted run are ours too).

    Args:
        folder: An existing folder.

    Returns:
        The entries that are not ours, sorted; all of them when ``data.yaml`` or ``images.csv``
        is missing; empty for an empty folder or a previous output.
    """
    entries = sorted(folder.iterdir())
    listed = _listed_files(folder / INDEX_FILE) if (folder / DATA_YAML).is_file() else None
    if listed is None:
        return [entry.name for entry in entries]
    foreign = []
    for entry in entries:
        if entry.name in (DATA_YAML, INDEX_FILE) or _is_stage(entry):
            continue
        allowed = listed.get(entry.name)
        if allowed is None or not entry.is_dir() or entry.is_symlink():
            foreign.append(entry.name)
            continue
        foreign += [
            f"{entry.name}/{inner.name}"
            for inner in sorted(entry.iterdir())
            if inner.name not in allowed or not inner.is_file()
        ]
    return foreign


def _listed_files(index: Path) -> dict[str, set[str]] | None:
    """``labels`` and ``images`` -> the file names ``images.csv`` gives; None when unreadable."""
    try:
        with index.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    if not {"label_file", "image_file"} <= set(reader.fieldnames or ()):
        return None
    return {
        LABELS_DIR: {row["label_file"] for row in rows},
        IMAGES_DIR: {row["image_file"] for row in rows},
    }


def _is_stage(entry: Path) -> bool:
    """A staging or swapped-out folder of ``lake.staged_dir`` (``.labels.*``, ``.images.*``)."""
    return entry.is_dir() and entry.name.startswith((f".{LABELS_DIR}.", f".{IMAGES_DIR}."))
