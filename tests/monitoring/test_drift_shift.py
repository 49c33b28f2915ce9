"""A real shift (another camera: darker, colour-shifted, 640x360, re-recorded with OpenCV) is
drift; the shipped clips split in two are not. Metrics come from the device's frame_quality."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from roadmark_pipeline.monitoring.drift import INPUT_COLUMNS, DriftConfig, drift_report
from roadmark_pipeline.monitoring.result import STATUS_DRIFT, STATUS_NO_DRIFT


def halves(metrics: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every other frame on each side: the same distribution split in two."""
    return metrics.iloc[::2].reset_index(drop=True), metrics.iloc[1::2].reset_index(drop=True)


def test_shipped_clips_split_in_two_do_not_drift(clip_metrics: pd.DataFrame, tmp_path: Path):
    reference, current = halves(clip_metrics)
    result = drift_report(reference, current, config=DriftConfig(), out_dir=tmp_path)

    assert result.status == STATUS_NO_DRIFT
    assert set(result.evaluated_columns) == set(INPUT_COLUMNS)
    assert result.drifted_share < 0.5
    assert not result.flagged and result.event_key() == ""


def test_other_camera_clip_drifts(
    clip_metrics: pd.DataFrame, shifted_metrics: pd.DataFrame, tmp_path: Path
):
    reference, _ = halves(clip_metrics)
    result = drift_report(reference, shifted_metrics, config=DriftConfig(), out_dir=tmp_path)

    assert set(shifted_metrics["width"]) == {640}
    assert result.status == STATUS_DRIFT and result.flagged
    assert {"brightness", "contrast"} <= set(result.drifted_columns)
    assert result.drifted_share >= 0.5
    assert result.segments["other-cam"].status == STATUS_DRIFT
    assert result.event_key().startswith("drift-undated-")
    assert result.html_path.stat().st_size > 100_000  # Evidently's self-contained page


def test_new_camera_in_a_minority_drifts_in_its_segment(
    clip_metrics: pd.DataFrame, shifted_metrics: pd.DataFrame, tmp_path: Path
):
    reference, same = halves(clip_metrics)
    minority = shifted_metrics.sample(60, random_state=1)
    current = pd.concat([same, minority], ignore_index=True)

    result = drift_report(
        reference, current, config=DriftConfig(), out_dir=tmp_path, day="2025-03-14"
    )

    assert result.segments["shipped"].status == STATUS_NO_DRIFT
    assert result.segments["other-cam"].status == STATUS_DRIFT
    assert result.drifted_segments == ("other-cam",) and result.flagged
    assert "segment:other-cam" in result.event_signature()
    assert (tmp_path / "segments" / "other-cam" / "drift.json").exists()
    metadata = result.to_metadata()
    assert metadata["segments_drifted"] == "other-cam"
    assert metadata["event_key"] == result.event_key()


def test_event_key_is_stable_across_reruns(
    clip_metrics: pd.DataFrame, shifted_metrics: pd.DataFrame, tmp_path: Path
):
    reference, _ = halves(clip_metrics)
    keys = {
        drift_report(
            reference, shifted_metrics, out_dir=tmp_path / str(run), day="2025-03-14"
        ).event_key()
        for run in range(2)
    }
    assert len(keys) == 1 and next(iter(keys)).startswith("drift-2025-03-14-")


@pytest.mark.parametrize("min_samples", [10_000])
def test_shift_with_too_little_data_is_insufficient(
    clip_metrics: pd.DataFrame, shifted_metrics: pd.DataFrame, tmp_path: Path, min_samples: int
):
    result = drift_report(
        clip_metrics, shifted_metrics, config=DriftConfig(min_samples=min_samples), out_dir=tmp_path
    )
    assert result.status == "insufficient_data" and not result.flagged
