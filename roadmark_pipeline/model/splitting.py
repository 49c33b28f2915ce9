"""Grouped, stratified train/val/test split: a drive is never on two sides.

Frames of one drive are near-copies, so whole groups (drives, by ``source_sha256``) are assigned.
Among the possible assignments, groups are placed by iterative stratification: the rarest label
(class presence, or a slice value such as a camera model) is placed first, each of its groups
going to the split that still wants most of that label. A class whose examples sit in a single
group cannot be on both sides; that group goes to train and the split says so in a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

LOG = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


class SplitError(ValueError):
    """The frames cannot be split as asked (missing columns, bad shares, unknown frames)."""


@dataclass(frozen=True)
class SplitConfig:
    """How to split frames into train, val and test.

    Attributes:
        test_share: Target share of frames in the test split.
        val_share: Target share of frames in the validation split (0: none; training then
            selects its best epoch on the training frames, never on test).
        seed: Breaks ties between equally good placements, reproducibly.
        group_column: Frames column that names the drive; a group is never split.
        stratify_columns: Slice columns (e.g. ``camera_model``) balanced like class presence.
    """

    test_share: float = 0.25
    val_share: float = 0.0
    seed: int = 0
    group_column: str = "source_sha256"
    stratify_columns: tuple[str, ...] = ()


@dataclass
class SplitResult:
    """The outcome of :func:`split_frames`.

    Attributes:
        assignment: frame_id -> ``"train"``, ``"val"`` or ``"test"``.
        groups: group value -> split.
        warnings: Human-readable notes (rare classes pinned to train, empty splits).
    """

    assignment: pd.Series
    groups: dict[str, str]
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> pd.DataFrame:
        """Return frames and groups per split."""
        counts = self.assignment.value_counts().reindex(SPLITS, fill_value=0)
        groups = pd.Series(self.groups).value_counts().reindex(SPLITS, fill_value=0)
        return pd.DataFrame({"frames": counts, "groups": groups})


def _check_inputs(frames: pd.DataFrame, boxes: pd.DataFrame, config: SplitConfig) -> None:
    for name, share in (("test_share", config.test_share), ("val_share", config.val_share)):
        if not 0.0 <= share < 1.0:
            raise SplitError(f"SplitConfig.{name}={share}: pass a share in [0, 1)")
    if config.test_share + config.val_share >= 1.0:
        raise SplitError(
            f"test_share + val_share = {config.test_share + config.val_share}: leave a share "
            "for train (their sum must stay below 1)"
        )
    needed = ["frame_id", config.group_column, *config.stratify_columns]
    missing = [column for column in needed if column not in frames.columns]
    if missing:
        raise SplitError(
            f"frames table lacks {missing}; it has {list(frames.columns)}. Add the columns or "
            "change SplitConfig.group_column / stratify_columns"
        )
    if frames["frame_id"].duplicated().any():
        raise SplitError("frames table lists a frame_id twice; keep one row per frame")
    unknown = set(boxes["frame_id"]) - set(frames["frame_id"])
    if unknown:
        raise SplitError(
            f"{len(unknown)} boxes reference frames missing from the frames table "
            f"(e.g. {sorted(unknown)[:3]}); pass the frames those boxes belong to"
        )


def group_labels(
    frames: pd.DataFrame,
    boxes: pd.DataFrame,
    class_names: Sequence[str],
    config: SplitConfig,
) -> pd.DataFrame:
    """Count, per group, the frames showing each class and the frames of each slice value.

    Returns:
        One row per group; columns ``frames``, ``class:<name>`` and ``<column>=<value>``.
    """
    group_of = frames.set_index("frame_id")[config.group_column].astype(str)
    table = pd.DataFrame(index=pd.Index(sorted(group_of.unique()), name="group"))
    table["frames"] = group_of.value_counts()

    present = boxes[["frame_id", "class_id"]].drop_duplicates()
    present = present.assign(group=present["frame_id"].map(group_of))
    for class_index, name in enumerate(class_names):
        of_class = present[present["class_id"] == class_index]
        table[f"class:{name}"] = of_class["group"].value_counts()

    for column in config.stratify_columns:
        values = frames[column].astype(str)
        for value in sorted(values.unique()):
            hits = group_of[(values == value).to_numpy()]
            table[f"{column}={value}"] = hits.value_counts()
    return table.fillna(0).astype(int)


def _pin_single_group_classes(
    labels: pd.DataFrame, class_names: Sequence[str]
) -> tuple[set[str], list[str]]:
    """Find classes held by one group only; their group must train, or the class is never seen."""
    pinned: set[str] = set()
    warnings: list[str] = []
    for name in class_names:
        holders = labels.index[labels[f"class:{name}"] > 0]
        if len(holders) == 1:
            group = holders[0]
            pinned.add(group)
            frames = int(labels.at[group, f"class:{name}"])
            warnings.append(
                f"class {name!r} appears in one drive only ({group}, {frames} frame(s)): that "
                "drive goes to train, so the class cannot be evaluated in this version"
            )
    return pinned, warnings


def _rarest_label(rest: pd.DataFrame) -> str:
    """Return the label column with the fewest (but some) examples left, or ``frames``."""
    label_totals = rest.drop(columns="frames").sum()
    label_totals = label_totals[label_totals > 0]
    if label_totals.empty:
        return "frames"
    return str(label_totals.sort_values(kind="stable").index[0])


def _best_split(demand: dict[str, pd.Series], label: str, rng: np.random.Generator) -> str:
    """Pick the split that wants most of ``label``, then most frames, then at random."""
    keys = {split: (want[label], want["frames"], rng.random()) for split, want in demand.items()}
    return max(keys, key=keys.__getitem__)


def assign_groups(
    labels: pd.DataFrame,
    shares: dict[str, float],
    pinned: set[str],
    seed: int,
) -> dict[str, str]:
    """Place whole groups into splits by iterative stratification.

    Args:
        labels: Per-group label counts from :func:`group_labels`.
        shares: Split name -> target share (only splits with a positive share are filled).
        pinned: Groups that must go to train.
        seed: Seed for tie breaks.

    Returns:
        group -> split name.
    """
    rng = np.random.default_rng(seed)
    totals = labels.sum().astype(float)
    demand = {split: totals * share for split, share in shares.items() if share > 0}
    assigned: dict[str, str] = {}
    for group in sorted(pinned):
        assigned[group] = "train"
        demand["train"] = demand["train"] - labels.loc[group]

    remaining = [group for group in labels.index if group not in assigned]
    while remaining:
        rest = labels.loc[remaining]
        label = _rarest_label(rest)
        holders = rest[rest[label] > 0]
        order = holders.assign(tie=rng.random(len(holders)))
        for group in order.sort_values([label, "tie"], ascending=False).index:
            split = _best_split(demand, label, rng)
            assigned[group] = split
            demand[split] = demand[split] - labels.loc[group]
            remaining.remove(group)
    return assigned


def split_frames(
    frames: pd.DataFrame,
    boxes: pd.DataFrame,
    class_names: Sequence[str],
    config: SplitConfig,
) -> SplitResult:
    """Split frames into train/val/test by whole groups, stratified by class presence and slices.

    Args:
        frames: One row per frame: ``frame_id``, the group column, the stratify columns.
        boxes: One row per box: ``frame_id``, ``class_id`` (ids index ``class_names``).
        class_names: The taxonomy in id order.
        config: Shares, seed, group and slice columns.

    Returns:
        The assignment of every frame, the group placement and any warnings.

    Raises:
        SplitError: On bad shares, missing columns or boxes of unknown frames.
    """
    _check_inputs(frames, boxes, config)
    labels = group_labels(frames, boxes, class_names, config)
    pinned, warnings = _pin_single_group_classes(labels, class_names)

    train_share = 1.0 - config.test_share - config.val_share
    shares = {"train": train_share, "val": config.val_share, "test": config.test_share}
    placed = assign_groups(labels, shares, pinned, config.seed)

    group_of = frames[config.group_column].astype(str)
    assignment = pd.Series(
        group_of.map(placed).to_numpy(), index=frames["frame_id"].to_numpy(), name="split"
    )
    assignment.index.name = "frame_id"
    for split, share in shares.items():
        if share > 0 and not (assignment == split).any():
            warnings.append(
                f"the {split} split is empty: {len(labels)} drive(s) cannot fill a share of "
                f"{share:.2f}; add drives or lower the share"
            )
    for message in warnings:
        LOG.warning(message)
    LOG.info(
        "split %d frames in %d drives: %s",
        len(frames),
        len(labels),
        assignment.value_counts().to_dict(),
    )
    return SplitResult(assignment=assignment, groups=placed, warnings=warnings)
