"""The annotation sensor: newly completed annotations start consensus and the label-error search."""

import json

import dagster as dg

from assets.jobs import pull_annotations_job
from assets.resources import LabelStudioResource, LakeResource
from roadmark_pipeline.taxonomy import class_names


@dg.sensor(
    name="annotation_sensor",
    job=pull_annotations_job,
    minimum_interval_seconds=120,
    default_status=dg.DefaultSensorStatus.STOPPED,
)
def annotation_sensor(
    context: dg.SensorEvaluationContext, label_studio: LabelStudioResource, lake: LakeResource
) -> dg.SensorResult | dg.SkipReason:
    """New annotations in Label Studio: one pull-annotations run per increase of the count."""
    project = label_studio.project_if_running(lake.local_path(), class_names())
    if project is None:
        return dg.SkipReason("Label Studio is not running; nothing to watch")

    progress = project.progress()
    seen = json.loads(context.cursor).get("annotations", 0) if context.cursor else 0
    count = int(progress["annotations"])
    cursor = json.dumps({"annotations": count, "project": project.id})
    if count <= seen:
        return dg.SensorResult(skip_reason=f"{count} annotations, none new", cursor=cursor)

    context.log.info(f"{count - seen} new annotations in project {project.id}")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"annotations:{project.id}:{count}")], cursor=cursor
    )
