"""Evaluation assets: the trained detector scored on the test drives, and the promotion gate."""

import json

import dagster as dg
import pandas as pd

from assets.resources import LakeResource
from roadmark_pipeline import lake as lake_io
from roadmark_pipeline.model.evaluation import Evaluation
from roadmark_pipeline.model.offline import configure_ultralytics
from roadmark_pipeline.model.plots import image_markdown
from roadmark_pipeline.model.predict import predict_frames
from roadmark_pipeline.model.registry import ModelRegistry
from roadmark_pipeline.model.report import build_report
from roadmark_pipeline.model_flow import gate_candidate
from roadmark_pipeline.settings import roadmark_home
from roadmark_pipeline.taxonomy import class_names


class EvaluationConfig(dg.Config):
    """How the test set is scored.

    Attributes:
        conf: Lowest score kept from the model (the AP table filters further per threshold).
        iou: NMS IoU threshold.
        target_precision: Choose per-class thresholds for this precision instead of best F1.
        human_level: Human-level score of slices without annotator agreement to measure it.
    """

    conf: float = 0.001
    iou: float = 0.6
    target_precision: float | None = None
    human_level: float = 0.9


def _md(table: pd.DataFrame, index: bool = True) -> dg.MetadataValue:
    return dg.MetadataValue.md(table.to_markdown(index=index, floatfmt=".3f"))


@dg.asset(io_manager_key="json_io_manager", group_name="training", kinds={"pandas"})
def detector_evaluation(
    context: dg.AssetExecutionContext,
    config: EvaluationConfig,
    lake: LakeResource,
    trained_detector: dict,
    dataset_version: dict,
    frame_agreement: pd.DataFrame,
) -> dict:
    """Test-set evaluation of the trained detector: per-class AP by score threshold, mAPs.

    One row per class-score threshold (0.005 to 0.5), one column per class; PR curves, slices
    with the error analysis (gap to human level x share), confusions and per-class thresholds.
    """
    frames, boxes = lake.dataset_tables(dataset_version)
    test = frames[frames["split"] == "test"]
    truth = boxes[boxes["frame_id"].isin(test["frame_id"])]

    configure_ultralytics(roadmark_home() / "ultralytics")
    predictions = predict_frames(
        lake.ensure(trained_detector["weights"]),
        test,
        imgsz=trained_detector["settings"]["imgsz"],
        conf=config.conf,
        iou=config.iou,
    )
    evaluation_parts = ("models", trained_detector["model_id"], "evaluation")
    with lake.workspace(*evaluation_parts, pull=False, prune=True) as out_dir:
        report = build_report(
            truth,
            predictions,
            test,
            class_names(),
            out_dir=out_dir,
            agreement=frame_agreement.set_index("frame_id")["agreement"],
            human_level=config.human_level,
            target_precision=config.target_precision,
            dataset_version=dataset_version["version"],
        )
        lake_io.write_parquet_atomic(out_dir / "test_predictions.parquet", predictions)

    evaluation = report.evaluation
    context.log.info(
        f"mAP50 {evaluation.map50:.3f}, mAP50-95 {evaluation.map50_95:.3f} on "
        f"{len(test)} test frames; top priority: {_top(report.errors)}"
    )
    context.add_output_metadata(
        {
            "mAP50": float(evaluation.map50),
            "mAP50_95": float(evaluation.map50_95),
            "test_frames": len(test),
            "ap_by_threshold": _md(evaluation.ap_table),
            "thresholds": _md(report.thresholds),
            "error_analysis": _md(report.errors, index=False),
            "confusions": _md(report.confusions, index=False),
            "pr_curves": dg.MetadataValue.md(image_markdown(report.plots["all"]))
            if "all" in report.plots
            else "-",
            "report": dg.MetadataValue.path(str(out_dir / "report.md")),
        }
    )
    return {
        "model_id": trained_detector["model_id"],
        "dataset_version": dataset_version["version"],
        "map50": float(evaluation.map50),
        "map50_95": float(evaluation.map50_95),
        "ap_table": json.loads(evaluation.ap_table.to_json(orient="split")),
        "runtime_thresholds": report.runtime_thresholds(),
        "error_analysis": json.loads(report.errors.to_json(orient="records")),
        "evaluation": evaluation.to_dict(),
        "test_predictions": str(out_dir / "test_predictions.parquet"),
        "report_dir": str(out_dir),
        "test_frames": int(len(test)),
    }


def _top(errors: pd.DataFrame) -> str:
    if not len(errors):
        return "none"
    row = errors.iloc[0]
    return f"{row['slice']}={row['value']} (priority {row['priority']:.3f})"


class GateConfig(dg.Config):
    """The promotion gate.

    Attributes:
        class_tolerance: Largest AP50 drop allowed for any class. With a test set of a few
            dozen boxes per class one box moves AP by ~0.1, so tighter values gate on noise.
    """

    class_tolerance: float = 0.1


@dg.asset_check(
    asset=detector_evaluation, blocking=True, additional_ins={"dataset_version": dg.AssetIn()}
)
def no_worse_than_production(
    context: dg.AssetCheckExecutionContext,
    config: GateConfig,
    lake: LakeResource,
    detector_evaluation: dict,
    dataset_version: dict,
) -> dg.AssetCheckResult:
    """The candidate is no worse than production on the same test set (mAP50 and each class)."""
    frames, boxes = lake.dataset_tables(dataset_version)  # production may be re-run on them
    test = frames[frames["split"] == "test"]
    candidate = Evaluation.from_dict(detector_evaluation["evaluation"])

    configure_ultralytics(roadmark_home() / "ultralytics")
    lake.mirror("models")
    decision = gate_candidate(
        ModelRegistry(lake.mirror("registry")),
        candidate,
        boxes[boxes["frame_id"].isin(test["frame_id"])],
        test,
        imgsz=int(candidate_imgsz(detector_evaluation, lake)),
        tolerance=config.class_tolerance,
        candidate_id=detector_evaluation["model_id"],
    )
    context.log.info(
        f"gate: {'promote' if decision.promote else 'block'}: {'; '.join(decision.reasons)}"
    )
    return dg.AssetCheckResult(
        passed=decision.promote,
        description="; ".join(decision.reasons)[:1000],
        metadata={
            "candidate_map50": float(decision.candidate_map50),
            "production_map50": float(decision.production_map50 or float("nan")),
            "class_deltas": _md(decision.class_deltas) if len(decision.class_deltas) else "-",
        },
    )


def candidate_imgsz(evaluation: dict, lake: LakeResource) -> int:
    """The candidate's training size, from its model record."""
    record = json.loads(
        lake.ensure(lake.local_path("models", evaluation["model_id"], "record.json")).read_text()
    )
    return int(record["settings"]["imgsz"])
