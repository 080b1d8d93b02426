"""``landing_sensor``: turns leased landing-queue batches into ingest runs, or says why not.

Each tick, in order: run concurrency (its own queued + running ingest runs), memory guard
(in-flight run workers' RSS and system memory, with hysteresis kept in the cursor), then the
adaptive drain plan (batch size and number of runs from the backlog, within the memory budget).
Whatever it decides, it records the queue's figures as an observation of ``landed_readings`` so the
UI plots depth, utilisation, oldest age and RSS over time; its skip reason names cause and figures.
"""

import json

import dagster as dg
import psutil

from pipeline_defs.defs.landing.assets import ingest_job, landed_readings
from pipeline_defs.defs.resources import BackwaterResource
from pipeline_defs.pressure.drain import plan_drain
from pipeline_defs.pressure.memory_guard import (
    MemoryMarks,
    MemorySample,
    PressureState,
    evaluate,
)
from pipeline_defs.settings import Settings, get_settings

IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]
MB = 1_000_000  # settings and messages use decimal megabytes


def runs_in_flight(instance: dg.DagsterInstance, stage: str) -> int:
    return instance.get_runs_count(
        dg.RunsFilter(tags={"backwater/stage": stage}, statuses=IN_FLIGHT)
    )


def run_memory_marks(settings: Settings) -> MemoryMarks:
    return MemoryMarks(
        high_rss_bytes=int(settings.runs_rss_high_mb * MB),
        low_rss_bytes=int(settings.runs_rss_low_mb * MB),
        high_system_percent=settings.system_memory_high_percent,
        low_system_percent=settings.system_memory_low_percent,
    )


def sample_run_workers(dagster_home: str) -> MemorySample:
    """RSS of this deployment's run workers: the processes a code server (``dagster api grpc``
    started with this DAGSTER_HOME's instance) spawned to execute runs, with their children."""
    rss, count = 0, 0
    for server in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(server.info["cmdline"] or [])
        if "api grpc" not in cmdline or dagster_home not in cmdline:
            continue
        try:
            for worker in server.children(recursive=True):
                if "--multiprocessing-fork" in " ".join(worker.cmdline()):
                    rss += worker.memory_info().rss
                    count += 1
        except psutil.Error:  # a worker that ended while we looked
            continue
    return MemorySample(rss, psutil.virtual_memory().percent, count)


def check_run_memory(settings: Settings, previously_paused: bool) -> PressureState:
    """Hysteresis over the RSS of all in-flight run workers plus system memory use."""
    sample = sample_run_workers(str(settings.dagster_home))
    return evaluate(previously_paused, sample, run_memory_marks(settings))


@dg.sensor(
    job=ingest_job,
    minimum_interval_seconds=get_settings().landing_sensor_interval_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Leases batches from the landing queue (sized by the backlog) and launches one "
    "ingest run per batch, keyed by the batch id; holds back under memory or concurrency pressure.",
)
def landing_sensor(context: dg.SensorEvaluationContext, backwater: BackwaterResource):
    settings = backwater.settings
    cursor = json.loads(context.cursor) if context.cursor else {"paused": False}
    pressure = check_run_memory(settings, cursor["paused"])
    in_flight = runs_in_flight(context.instance, "ingest")
    with backwater.queue() as queue:
        stats = queue.stats()
        plan = plan_drain(
            stats.unleased_records + (stats.leased_records if stats.expired_batches else 0),
            stats.oldest_age_seconds,
            in_flight,
            min_batch=settings.batch_min_records,
            max_batch=settings.batch_max_records,
            max_runs=settings.max_ingest_runs_in_flight,
            memory_budget_bytes=int(settings.ingest_memory_budget_mb * MB),
            bytes_per_record=settings.bytes_per_record_estimate,
            target_drain_seconds=settings.drain_target_seconds,
        )
        requests = []
        if not pressure.paused and stats.has_work:
            for _ in range(plan.runs):
                lease = queue.lease(plan.batch_records)
                if lease is None:
                    break
                requests.append(_ingest_request(lease))

    if in_flight >= settings.max_ingest_runs_in_flight:
        skip = plan.reason  # names the runs in flight and the limit
    elif pressure.paused:
        skip = f"memory: {pressure.reason} (in-flight run workers; resumes below the low marks)"
    elif not stats.has_work:
        skip = (
            "landing queue is empty"
            if stats.depth_records == 0
            else f"all {stats.depth_records:,} queued records are leased by runs in flight"
        )
    else:
        skip = plan.reason
    observation = dg.AssetObservation(
        asset_key=landed_readings.key,
        metadata={
            "queue_depth": dg.MetadataValue.int(stats.depth_records),
            "queue_bytes": dg.MetadataValue.int(stats.bytes),
            "queue_utilisation": dg.MetadataValue.float(stats.utilisation),
            "oldest_age_seconds": dg.MetadataValue.float(stats.oldest_age_seconds or 0.0),
            "leased_records": dg.MetadataValue.int(stats.leased_records),
            "ingest_runs_in_flight": dg.MetadataValue.int(in_flight),
            "run_workers_rss_mb": dg.MetadataValue.float(pressure.sample.rss_bytes / MB),
            "system_memory_percent": dg.MetadataValue.float(pressure.sample.system_percent),
            "memory_paused": pressure.paused,
            "planned_batch_records": dg.MetadataValue.int(plan.batch_records),
            "runs_requested": dg.MetadataValue.int(len(requests)),
            "decision": skip if not requests else plan.reason,
        },
    )
    return dg.SensorResult(
        run_requests=requests,
        skip_reason=None if requests else skip,
        asset_events=[observation],
        cursor=json.dumps({"paused": pressure.paused}),
    )


def _ingest_request(lease) -> dg.RunRequest:
    # A redelivered lease keeps its batch id; the run key must still be new to launch.
    attempt = "" if lease.attempt == 1 else f"/attempt-{lease.attempt}"
    return dg.RunRequest(
        run_key=f"{lease.batch_id}{attempt}",
        run_config=dg.RunConfig(ops={"landed_readings": {"config": {"batch_id": lease.batch_id}}}),
        tags={"backwater/batch_id": lease.batch_id, "backwater/records": str(lease.records)},
    )
