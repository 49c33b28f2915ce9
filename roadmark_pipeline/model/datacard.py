"""The data card of a dataset version: what is in each split, per class and per slice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from roadmark_pipeline.model.slices import slice_columns, slice_values, with_slice_columns
from roadmark_pipeline.model.splitting import SPLITS


@dataclass
class DataCard:
    """Counts and notes that describe one dataset version.

    Attributes:
        version: The dataset version the card describes.
        counts: Boxes and frames per (split, class), every class listed (zeros included).
        slices: Frames per (split, slice column, value).
        n_frames: Frames per split.
        warnings: Notes from the split and the writer (rare classes pinned, dropped boxes).
    """

    version: str
    counts: pd.DataFrame
    slices: pd.DataFrame
    n_frames: dict[str, int]
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return the card as JSON-ready values."""
        return {
            "version": self.version,
            "n_frames": self.n_frames,
            "counts": self.counts.reset_index().to_dict(orient="records"),
            "slices": self.slices.reset_index().to_dict(orient="records"),
            "warnings": list(self.warnings),
        }

    def to_markdown(self) -> str:
        """Return the card as a Markdown page (the dataset folder's ``card.md``)."""
        order = self.counts.index.get_level_values("class").unique()
        splits = self.counts.index.get_level_values("split").unique()
        boxes = self.counts["boxes"].unstack("split", fill_value=0).reindex(order)[splits]
        frames = self.counts["frames"].unstack("split", fill_value=0).reindex(order)[splits]
        lines = [
            f"# Dataset {self.version}",
            "",
            "Frames per split: " + ", ".join(f"{k} {v}" for k, v in self.n_frames.items()),
            "",
            "## Boxes per class",
            "",
            markdown_table(boxes),
            "",
            "## Frames showing each class",
            "",
            markdown_table(frames),
        ]
        if not self.slices.empty:
            by_slice = self.slices["frames"].unstack("split", fill_value=0)
            lines += ["", "## Frames per slice", "", markdown_table(by_slice)]
        if self.warnings:
            lines += ["", "## Warnings", "", *(f"- {note}" for note in self.warnings)]
        return "\n".join(lines) + "\n"


def _cell(value: object, digits: int) -> str:
    if isinstance(value, float | np.floating):
        return "" if np.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def markdown_table(table: pd.DataFrame, digits: int = 4) -> str:
    """Render a small table as Markdown, floats with ``digits`` decimals, NaN as blank."""
    index_names = [name or "" for name in table.index.names]
    header = [*index_names, *map(str, table.columns)]
    rows = []
    for key, values in zip(table.index, table.itertuples(index=False), strict=True):
        keys = key if isinstance(key, tuple) else (key,)
        rows.append([*map(str, keys), *(_cell(value, digits) for value in values)])
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(out)


def class_counts(
    frames: pd.DataFrame,
    boxes: pd.DataFrame,
    assignment: pd.Series,
    class_names: Sequence[str],
) -> pd.DataFrame:
    """Count boxes and frames showing each class, per split.

    Returns:
        Index (split, class), columns ``boxes`` and ``frames``; every split present and every
        class listed.
    """
    split_of = assignment.reindex(frames["frame_id"])
    split_of = pd.Series(split_of.to_numpy(), index=frames["frame_id"].to_numpy())
    tagged = boxes.assign(split=boxes["frame_id"].map(split_of))
    present = [split for split in SPLITS if (split_of == split).any()]
    index = pd.MultiIndex.from_product([present, list(class_names)], names=["split", "class"])
    names = pd.Series(list(class_names))
    tagged = tagged.assign(**{"class": names.reindex(tagged["class_id"].to_numpy()).to_numpy()})
    grouped = tagged.groupby(["split", "class"])
    counts = pd.DataFrame(
        {"boxes": grouped.size(), "frames": grouped["frame_id"].nunique()}
    ).reindex(index, fill_value=0)
    return counts.fillna(0).astype(int)


def build_data_card(
    frames: pd.DataFrame,
    boxes: pd.DataFrame,
    assignment: pd.Series,
    class_names: Sequence[str],
    version: str,
    warnings: Sequence[str] = (),
    *,
    slice_columns: Sequence[str] | None = None,
) -> DataCard:
    """Build the data card of a split: counts per class per split, frames per slice per split.

    Args:
        frames: The frames table (slice columns such as ``clip``, ``camera_model``,
            ``brightness``).
        boxes: The boxes table.
        assignment: frame_id -> split.
        class_names: Taxonomy order.
        version: Dataset version to name in the card.
        warnings: Notes to carry.
        slice_columns: Columns to count; known slice columns present when omitted.

    Returns:
        The card.
    """
    frames = with_slice_columns(frames)
    split_of = assignment.reindex(frames["frame_id"]).to_numpy()
    n_frames = {split: int((split_of == split).sum()) for split in SPLITS}

    columns = _card_slice_columns(frames, slice_columns)
    records = []
    for column in columns:
        values = slice_values(frames, column)
        table = pd.DataFrame({"split": split_of, "value": values.to_numpy()})
        for (split, value), count in table.value_counts().sort_index().items():
            records.append({"split": split, "slice": column, "value": value, "frames": count})
    slices = pd.DataFrame(records, columns=["split", "slice", "value", "frames"])
    return DataCard(
        version=version,
        counts=class_counts(frames, boxes, assignment, class_names),
        slices=slices.set_index(["slice", "value", "split"]),
        n_frames=n_frames,
        warnings=list(warnings),
    )


def _card_slice_columns(frames: pd.DataFrame, wanted: Sequence[str] | None) -> list[str]:
    return slice_columns(frames, tuple(wanted) if wanted is not None else None)
