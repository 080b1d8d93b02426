"""``landed_readings``: the raw lake, grown by one leased micro-batch per ingest run."""

import dagster as dg

from pipeline_defs.defs.resources import BackwaterResource
from pipeline_defs.defs.tags import stage_tags
from pipeline_defs.lake.ingest import ingest_batch


class IngestConfig(dg.Config):
    batch_id: str


@dg.asset(
    group_name="landing",
    kinds={"parquet", "sqlite"},
    description="Raw Parquet micro-batches committed from the landing queue (deduplicated by "
    "sensor, parameter and event time; listed through the lake manifest).",
)
def landed_readings(
    context: dg.AssetExecutionContext, config: IngestConfig, backwater: BackwaterResource
) -> dg.MaterializeResult:
    queue, manifest = backwater.queue(), backwater.manifest()
    try:
        outcome = ingest_batch(
            queue,
            backwater.settings.lake_dir,
            manifest,
            config.batch_id,
            max_records_per_second=backwater.settings.ingest_max_records_per_second,
        )
        totals = manifest.totals()
    finally:
        queue.close()
        manifest.close()
    commit, after = outcome.commit, outcome.queue_after
    if commit.already_committed:
        context.log.info(f"batch {commit.batch_id} was already committed; acked only")
    return dg.MaterializeResult(
        metadata={
            "batch_id": commit.batch_id,
            "records": dg.MetadataValue.int(commit.records_in),
            "landed": dg.MetadataValue.int(commit.landed),
            "duplicates": dg.MetadataValue.int(commit.duplicates),
            "bytes": dg.MetadataValue.int(commit.bytes),
            "already_committed": commit.already_committed,
            "queue_depth_after": dg.MetadataValue.int(after.depth_records),
            "queue_bytes_after": dg.MetadataValue.int(after.bytes),
            "queue_utilisation_after": dg.MetadataValue.float(after.utilisation),
            "lag_seconds": dg.MetadataValue.float(outcome.lag_seconds or 0.0),
            "lake_readings_total": dg.MetadataValue.int(totals.landed),
        }
    )


ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=[landed_readings],
    executor_def=dg.in_process_executor,
    tags=stage_tags("ingest"),
    description="Lease one batch from the landing queue, commit it to the raw lake, ack it.",
)
