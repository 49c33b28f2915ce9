"""The landing sensor: new content in the landing zone becomes a partition and an ingest run."""

import json
import time
from collections.abc import Callable

import dagster as dg

from assets.jobs import ingest_job
from assets.partitions import SOURCES, sources_partitions
from assets.resources import LakeResource, LandingZoneResource
from roadmark_pipeline import sources

MAX_HASHES_PER_TICK = 50
SETTLE_SECONDS = 10.0


def landing_run_key(sha256: str) -> str:
    """Return the run key of a source's ingest run: one run per content, ever."""
    return f"sha:{sha256}"


def make_landing_sensor(
    *,
    name: str = "landing_sensor",
    settle_s: float = SETTLE_SECONDS,
    clock: Callable[[], float] = time.time,
    minimum_interval_seconds: int = 30,
) -> dg.SensorDefinition:
    """Build the sensor that turns newly landed content into partitions and ingest runs.

    Args:
        name: The sensor's name.
        settle_s: How long a local file must stay unmodified before it is taken.
        clock: Time source (tests pass a fixed clock).
        minimum_interval_seconds: Gap between ticks.

    Returns:
        A sensor that adds one ``sources`` partition and requests one ``ingest_job`` run per
        new sha256; the same content listed twice (in one tick or across ticks) is taken once.
    """

    @dg.sensor(
        name=name,
        job=ingest_job,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.STOPPED,
    )
    def _sensor(
        context: dg.SensorEvaluationContext,
        landing: LandingZoneResource,
        lake: LakeResource,
    ) -> dg.SensorResult:
        """New videos and stills in the landing zone, one partition and one run per content."""
        cursor = json.loads(context.cursor) if context.cursor else {}
        known = set(context.instance.get_dynamic_partitions(SOURCES))
        root = landing.resolved_root()

        plan, to_hash = sources.plan_tick(
            landing.listing(), cursor, known, now=clock(), settle_s=settle_s, root=root
        )
        for entry in to_hash[:MAX_HASHES_PER_TICK]:
            sha = entry.sha256 or landing.sha256(entry.key)
            sources.add_hashed(plan, entry, sha, known, root=root, now=clock())
        for record in plan.new_sources:
            sources.register(lake.path(), record)

        new_keys = [record.partition_key for record in plan.new_sources]
        context.log.info(
            f"{len(new_keys)} new sources, {len(plan.waiting)} still growing, "
            f"{max(0, len(to_hash) - MAX_HASHES_PER_TICK)} left to hash next tick"
        )
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(run_key=landing_run_key(r.sha256), partition_key=r.partition_key)
                for r in plan.new_sources
            ],
            dynamic_partitions_requests=(
                [sources_partitions.build_add_request(new_keys)] if new_keys else []
            ),
            cursor=json.dumps(plan.cursor, sort_keys=True),
        )

    return _sensor


landing_sensor = make_landing_sensor()
