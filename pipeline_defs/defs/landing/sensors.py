"""``landing_sensor``: turns leased landing-queue batches into ingest runs, or says why not."""

import dagster as dg

from pipeline_defs.defs.landing.assets import ingest_job
from pipeline_defs.defs.resources import BackwaterResource
from pipeline_defs.settings import get_settings

IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def runs_in_flight(instance: dg.DagsterInstance, stage: str) -> int:
    return instance.get_runs_count(
        dg.RunsFilter(tags={"backwater/stage": stage}, statuses=IN_FLIGHT)
    )


@dg.sensor(
    job=ingest_job,
    minimum_interval_seconds=get_settings().landing_sensor_interval_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Leases a batch from the landing queue for each free ingest slot and launches an "
    "ingest run keyed by the batch id.",
)
def landing_sensor(context: dg.SensorEvaluationContext, backwater: BackwaterResource):
    settings = backwater.settings
    in_flight = runs_in_flight(context.instance, "ingest")
    limit = settings.max_ingest_runs_in_flight
    if in_flight >= limit:
        return dg.SkipReason(f"{in_flight} ingest runs in flight ≥ limit {limit}")
    queue = backwater.queue()
    try:
        stats = queue.stats()
        if not stats.has_work:
            if stats.depth_records == 0:
                return dg.SkipReason("landing queue is empty")
            return dg.SkipReason(
                f"all {stats.depth_records:,} queued records are leased by runs in flight"
            )
        requests = []
        for _ in range(limit - in_flight):
            lease = queue.lease(settings.batch_max_records)
            if lease is None:
                break
            # A redelivered lease keeps its batch id; the run key must still be new to launch.
            run_key = (
                lease.batch_id
                if lease.attempt == 1
                else f"{lease.batch_id}/attempt-{lease.attempt}"
            )
            requests.append(
                dg.RunRequest(
                    run_key=run_key,
                    run_config=dg.RunConfig(
                        ops={"landed_readings": {"config": {"batch_id": lease.batch_id}}}
                    ),
                    tags={
                        "backwater/batch_id": lease.batch_id,
                        "backwater/records": str(lease.records),
                    },
                )
            )
    finally:
        queue.close()
    return requests
