"""``replayed_spill_segments``: each spill segment is a partition; materializing it replays the
segment through the same idempotent lake write path as ingestion, then archives it."""

import dagster as dg

from pipeline_defs.defs.resources import BackwaterResource
from pipeline_defs.settings import get_settings
from pipeline_defs.spill.replay import replay_segment

spill_segments = dg.DynamicPartitionsDefinition(name="spill_segments")


@dg.asset(
    group_name="landing",
    kinds={"parquet"},
    partitions_def=spill_segments,
    backfill_policy=dg.BackfillPolicy.multi_run(get_settings().replay_partitions_per_run),
    pool="replay",
    description="Spilled readings replayed into the raw lake (batch id spill-<segment>): select "
    "pending partitions and launch a backfill. Replaying a segment twice changes nothing; a "
    "segment is archived only after its readings are committed.",
)
def replayed_spill_segments(
    context: dg.AssetExecutionContext, backwater: BackwaterResource
) -> dg.MaterializeResult:
    store, manifest = backwater.spill(), backwater.manifest()
    totals = {"records": 0, "landed": 0, "duplicates": 0, "already_committed": 0}
    try:
        for segment_id in context.partition_keys:
            outcome = replay_segment(store, segment_id, backwater.settings.lake_dir, manifest)
            if outcome.already_committed:  # its readings landed in an earlier run: none now
                totals["already_committed"] += 1
                context.log.info(
                    f"segment {segment_id}: already committed ({outcome.landed:,} landed then); "
                    "nothing new, archived only"
                )
                continue
            totals["records"] += outcome.records
            totals["landed"] += outcome.landed
            totals["duplicates"] += outcome.duplicates
            context.log.info(
                f"segment {segment_id}: {outcome.records:,} readings, {outcome.landed:,} landed, "
                f"{outcome.duplicates:,} duplicates"
            )
        pending = store.stats()
    finally:
        manifest.close()
    return dg.MaterializeResult(
        metadata={
            "segments": dg.MetadataValue.int(len(context.partition_keys)),
            "replayed_records": dg.MetadataValue.int(totals["records"]),
            "landed": dg.MetadataValue.int(totals["landed"]),
            "duplicates": dg.MetadataValue.int(totals["duplicates"]),
            "already_committed": dg.MetadataValue.int(totals["already_committed"]),
            "spill_pending_segments_after": dg.MetadataValue.int(pending.pending_segments),
            "spill_pending_records_after": dg.MetadataValue.int(pending.pending_records),
        }
    )
