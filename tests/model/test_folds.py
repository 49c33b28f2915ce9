"""Fold schemes for out-of-sample predictions: runs never split, no frame predicts itself."""

from __future__ import annotations

import pandas as pd
import pytest

from roadmark_pipeline.model.folds import FOLD_SCHEMES, assign_folds
from roadmark_pipeline.model.label_quality import LabelQualityError, cross_val_predictions
from roadmark_pipeline.model.training import TrainConfig
from roadmark_pipeline.taxonomy import class_names

TINY = TrainConfig(imgsz=160, epochs=1, batch=4, nbs=4)


def _frames(lengths: dict[str, int], step: int = 4) -> pd.DataFrame:
    """Frames of several drives, every ``step``-th video frame, listed in a shuffled order."""
    rows = [
        {"frame_id": f"{drive}/{i * step}", "drive": drive, "position": i}
        for drive, n in lengths.items()
        for i in range(n)
    ]
    return pd.DataFrame(rows).sample(frac=1.0, random_state=0).reset_index(drop=True)


@pytest.mark.parametrize(
    ("lengths", "k", "fold_by", "block_size"),
    [
        ({"a": 10, "b": 7}, 2, "block", 4),
        ({"a": 10, "b": 7}, 3, "block", 2),
        ({"a": 5, "b": 1, "c": 1}, 2, "frame", 1),
        ({"a": 12}, 4, "block", 3),
    ],
)
def test_runs_stay_whole_and_neighbouring_runs_change_fold(lengths, k, fold_by, block_size):
    frames = _frames(lengths)
    folds = assign_folds(frames, "drive", k, fold_by=fold_by, block_size=block_size)
    table = frames.assign(fold=folds.to_numpy(), run=frames["position"] // block_size)

    assert list(folds.index) == list(frames["frame_id"])  # in the frames' own order
    assert table.groupby(["drive", "run"])["fold"].nunique().max() == 1
    runs = table.groupby(["drive", "run"])["fold"].first()
    for _, drive_runs in runs.groupby(level="drive"):
        assert (drive_runs.diff().dropna() != 0).all()  # a run's neighbours train its model
    assert set(folds) == set(range(k))
    sizes = table.groupby("fold").size()
    assert sizes.max() - sizes.min() <= block_size


def test_frame_index_column_wins_over_the_frame_id():
    frames = pd.DataFrame(
        {"frame_id": ["x/9", "x/8", "x/7", "x/6"], "drive": "x", "frame_index": [0, 1, 2, 3]}
    )
    folds = assign_folds(frames, "drive", 2, fold_by="block", block_size=2)
    assert folds.tolist() == [0, 0, 1, 1]


def test_drive_scheme_is_unchanged_by_default():
    frames = _frames({"a": 5, "b": 4, "c": 3, "d": 2})
    folds = assign_folds(frames, "drive", 2)
    assert frames.assign(fold=folds.to_numpy()).groupby("drive")["fold"].nunique().max() == 1
    assert sorted(folds.value_counts().tolist()) == [7, 7]


@pytest.mark.parametrize(
    ("frames", "kwargs", "message"),
    [
        (_frames({"a": 4}), {"k": 2, "fold_by": "clip"}, "fold_by='clip' is unknown"),
        (_frames({"a": 4}), {"k": 1, "fold_by": "frame"}, "use k >= 2"),
        (_frames({"a": 4}), {"k": 2, "fold_by": "block", "block_size": 0}, "at least 1 frame"),
        (_frames({"a": 4}), {"k": 2, "fold_by": "block", "block_size": 4}, "found 1"),
        (_frames({"a": 4}), {"k": 2}, "found 1 drives"),
        (
            pd.DataFrame({"frame_id": ["a/x", "a/1"], "drive": "a"}),
            {"k": 2, "fold_by": "frame"},
            "does not end in '/<frame index>'",
        ),
    ],
)
def test_bad_fold_requests_name_the_fix(frames, kwargs, message):
    with pytest.raises(LabelQualityError, match=message):
        assign_folds(frames, "drive", **kwargs)


def test_schemes_are_the_ones_the_command_line_offers():
    from roadmark_pipeline.labeling.real_issues import FOLD_BY

    assert set(FOLD_BY) == set(FOLD_SCHEMES)


@pytest.fixture(scope="module")
def one_drive(silver_all):
    """Six consecutive real frames of a single drive: drive folds cannot split them."""
    frames, boxes = silver_all
    picked = frames[frames["clip"] == "test_small1"].head(6).reset_index(drop=True)
    return picked, boxes[boxes["frame_id"].isin(picked["frame_id"])]


def test_block_folds_never_predict_a_frame_with_a_model_trained_on_it(one_drive, tmp_path):
    frames, boxes = one_drive
    with pytest.raises(LabelQualityError, match="found 1 drives"):
        assign_folds(frames, "source_sha256", 2)

    predictions = cross_val_predictions(
        frames,
        boxes,
        class_names(),
        k=2,
        group_column="source_sha256",
        train_config=TINY,
        work_dir=tmp_path,
        fold_by="block",
        block_size=2,
    )
    trained_on = {}
    for fold in (0, 1):
        manifest = next((tmp_path / f"fold{fold}" / "dataset").glob("*/manifest.parquet"))
        trained_on[fold] = set(pd.read_parquet(manifest)["frame_id"])
    assert trained_on[0].isdisjoint(trained_on[1])
    assert trained_on[0] | trained_on[1] == set(frames["frame_id"])
    for row in predictions.itertuples(index=False):
        assert row.frame_id not in trained_on[row.fold]
    ordered = sorted(frames["frame_id"], key=lambda fid: int(fid.rsplit("/", 1)[1]))
    assert [fid in trained_on[1] for fid in ordered] == [True, True, False, False, True, True]
