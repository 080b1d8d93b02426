"""``spill_sensor``: every new spill segment becomes a partition of ``replayed_spill_segments``.

It also records the spill store's figures as an observation each tick (the UI plots them), and —
with ``BACKWATER_AUTO_REPLAY=true`` — launches a backfill of the pending segments once the landing
queue has been under half full, with no ingest run in flight, for ``auto_replay_quiet_seconds``.
"""

import json
import time

import dagster as dg
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset
from dagster._core.definitions.events import AssetKeyPartitionKey

from pipeline_defs.defs.landing.sensors import runs_in_flight
from pipeline_defs.defs.resources import BackwaterResource
from pipeline_defs.defs.spill.assets import replayed_spill_segments, spill_segments
from pipeline_defs.defs.tags import stage_tags
from pipeline_defs.settings import get_settings
from pipeline_defs.spill.segments import SegmentState

REPLAY_TAGS = stage_tags("replay")


@dg.sensor(
    asset_selection=[replayed_spill_segments.key],
    minimum_interval_seconds=get_settings().spill_sensor_interval_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Registers each new spill segment as a partition of replayed_spill_segments "
    "(backfill them from the UI or with `backwater spill backfill`).",
)
def spill_sensor(context: dg.SensorEvaluationContext, backwater: BackwaterResource):
    settings = backwater.settings
    state = json.loads(context.cursor) if context.cursor else {"quiet_since": None}
    store = backwater.spill()
    pending = store.list(SegmentState.PENDING)
    stats = store.stats()
    known = set(context.instance.get_dynamic_partitions(spill_segments.name))
    new = [segment.id for segment in pending if segment.id not in known]
    observation = dg.AssetObservation(
        asset_key=replayed_spill_segments.key,
        metadata={
            "spill_pending_segments": dg.MetadataValue.int(stats.pending_segments),
            "spill_pending_records": dg.MetadataValue.int(stats.pending_records),
            "spill_pending_bytes": dg.MetadataValue.int(stats.pending_bytes),
            "spill_utilisation": dg.MetadataValue.float(stats.utilisation),
            "spill_archived_records": dg.MetadataValue.int(stats.archived_records),
            "spill_quarantined_segments": dg.MetadataValue.int(stats.quarantined_segments),
        },
    )
    requests: list[dg.RunRequest] = []
    registered = [segment.id for segment in pending if segment.id in known]
    if settings.auto_replay and registered:
        requests, state = _auto_replay(context, backwater, registered, state)
    message = (
        f"{len(new)} new spill segment(s) registered; {stats.pending_segments} pending "
        f"({stats.pending_records:,} readings)"
    )
    return dg.SensorResult(
        run_requests=requests,
        skip_reason=None if requests else message,
        dynamic_partitions_requests=([spill_segments.build_add_request(new)] if new else []),
        asset_events=[observation],
        cursor=json.dumps(state),
    )


def _auto_replay(context, backwater: BackwaterResource, pending: list[str], state: dict):
    settings = backwater.settings
    with backwater.queue() as queue:
        utilisation = queue.stats().utilisation
    quiet = utilisation < 0.5 and runs_in_flight(context.instance, "ingest") == 0
    quiet_since = state.get("quiet_since") if quiet else None
    quiet_since = quiet_since or (time.time() if quiet else None)
    state = {"quiet_since": quiet_since}
    if (
        quiet_since is None
        or time.time() - quiet_since < settings.auto_replay_quiet_seconds
        or runs_in_flight(context.instance, "replay")
    ):
        return [], state
    subset = AssetGraphSubset.from_asset_partition_set(
        {AssetKeyPartitionKey(replayed_spill_segments.key, key) for key in pending},
        asset_graph=context.repository_def.asset_graph,
    )
    return [dg.RunRequest.for_asset_graph_subset(subset, tags=REPLAY_TAGS)], state
