"""How fast labeling goes, and how long until each class has enough examples."""

import dagster as dg
import pandas as pd

from roadmark_pipeline.frames import LABELLED_STATUSES
from roadmark_pipeline.labeling.throughput import annotation_rates, eta_per_class
from roadmark_pipeline.taxonomy import class_names


class ThroughputConfig(dg.Config):
    """Targets of the labeling effort.

    Attributes:
        target_per_class: Consensus boxes wanted per class.
        annotators_per_frame: Annotators each frame gets (overlap), which divides the rate.
    """

    target_per_class: int = 500
    annotators_per_frame: float = 1.0


@dg.asset(io_manager_key="parquet_io_manager", group_name="labeling", kinds={"parquet"})
def labeling_throughput(
    context: dg.AssetExecutionContext,
    config: ThroughputConfig,
    annotation_records: pd.DataFrame,
    annotation_tasks: pd.DataFrame,
    consensus_labels: pd.DataFrame,
) -> pd.DataFrame:
    """Per class: examples so far, the target, and the ETA at the annotators' measured rate.

    Rates are annotations per hour per annotator from Label Studio's timestamps ("how long
    until we have m examples of yellow_marking?").
    """
    rates = annotation_rates(annotation_records)
    labelled = int(annotation_tasks["status"].isin(LABELLED_STATUSES).sum())
    queued = int((annotation_tasks["status"] == "unannotated").sum())
    eta = eta_per_class(
        consensus_labels,
        labelled,
        rates,
        config.target_per_class,
        class_names(),
        annotators_per_frame=config.annotators_per_frame,
        queued_frames=queued,
    )

    context.log.info(
        f"{len(rates)} annotators, {rates['per_hour'].sum():.0f} annotations/h "
        f"in all; {labelled} frames labelled, {queued} queued"
    )
    context.add_output_metadata(
        {
            "rates": dg.MetadataValue.md(rates.to_markdown(index=False, floatfmt=".1f")),
            "eta": dg.MetadataValue.md(eta.to_markdown(index=False, floatfmt=".1f")),
            "frames_labelled": labelled,
            "frames_queued": queued,
        }
    )
    return eta
