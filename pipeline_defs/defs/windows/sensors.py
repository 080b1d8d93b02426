"""``lake_commits_sensor``: re-materializes exactly the monthly partitions new commits touched.

The cursor is the manifest's last ``commit_seq`` handled. Each tick turns the event-time days landed
since then into the months whose windows change (a reading at t changes windows starting in
(t - 24 h, t]) and requests one ranged run per contiguous stretch of months — late or replayed
readings included. While ingestion is still busy it waits, up to ``lake_settle_seconds``, so a burst
becomes a few runs instead of one per batch.
"""

import time
from collections import Counter

import dagster as dg
import pandas as pd

from pipeline_defs.defs.landing.sensors import runs_in_flight
from pipeline_defs.defs.resources import BackwaterResource
from pipeline_defs.defs.spatial.assets import enriched_telemetry, watershed_boundaries
from pipeline_defs.defs.tags import stage_tags
from pipeline_defs.defs.windows.assets import HOURLY, SLIDING
from pipeline_defs.defs.windows.partitions import monthly_partitions
from pipeline_defs.settings import get_settings
from pipeline_defs.windows.time_partitions import months_touched

WINDOW_ASSETS = [enriched_telemetry.key, HOURLY, SLIDING]
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def months_for_days(days: list[str], longest_window_hours: int) -> list[str]:
    """Monthly partition keys whose windows a reading on any of ``days`` can change."""
    if not days:
        return []
    starts = pd.to_datetime(pd.Series(days), utc=True)
    instants = pd.concat([starts, starts + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)])
    return months_touched(instants.to_numpy(), longest_window_hours)


def contiguous_ranges(keys: list[str], all_keys: list[str]) -> list[tuple[str, str]]:
    """Group sorted partition keys into (first, last) runs of neighbours in ``all_keys``."""
    position = {key: i for i, key in enumerate(all_keys)}
    ranges: list[tuple[str, str]] = []
    for key in sorted(keys, key=position.__getitem__):
        if ranges and position[key] == position[ranges[-1][1]] + 1:
            ranges[-1] = (ranges[-1][0], key)
        else:
            ranges.append((key, key))
    return ranges


@dg.sensor(
    asset_selection=[watershed_boundaries.key, *WINDOW_ASSETS],
    minimum_interval_seconds=get_settings().lake_sensor_interval_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Launches enriched + window-aggregate runs for the monthly partitions touched by "
    "batches committed to the lake since the last tick (late and replayed readings included).",
)
def lake_commits_sensor(context: dg.SensorEvaluationContext, backwater: BackwaterResource):
    settings = backwater.settings
    cursor = int(context.cursor or 0)
    manifest = backwater.manifest()
    try:
        days, newest = manifest.days_touched_after(cursor)
        pending = manifest.batches(after_commit_seq=cursor)
    finally:
        manifest.close()
    if newest == cursor:
        return dg.SkipReason(f"no lake commits after #{cursor}")

    if context.instance.get_latest_materialization_event(watershed_boundaries.key) is None:
        if runs_in_flight(context.instance, "windows"):
            return dg.SkipReason("waiting for watershed_boundaries to materialize")
        return dg.RunRequest(asset_selection=[watershed_boundaries.key], tags=stage_tags("windows"))

    windows_busy = runs_in_flight(context.instance, "windows")
    if windows_busy:  # don't pile up queued runs; the cursor waits, so nothing is skipped
        return dg.SkipReason(
            f"{newest - cursor} new commits wait: {windows_busy} window run(s) in flight"
        )
    ingest_busy = runs_in_flight(context.instance, "ingest")
    waited = time.time() - pending[0].committed_at
    if ingest_busy and waited < settings.lake_settle_seconds:
        return dg.SkipReason(
            f"{newest - cursor} new commits; {ingest_busy} ingest runs in flight, settling "
            f"({waited:.0f} s < {settings.lake_settle_seconds:.0f} s)"
        )

    existing = monthly_partitions.get_partition_keys(dynamic_partitions_store=context.instance)
    wanted = [
        key
        for key in months_for_days(days, max(settings.sliding_window_hours))
        if key in set(existing)
    ]
    # which producers the re-materialized readings came from: "landing: 12, spill: 3" batches
    origins = ", ".join(
        f"{origin}: {count}"
        for origin, count in sorted(Counter(b.origin.split(":")[0] for b in pending).items())
    )
    requests = [
        dg.RunRequest(
            run_key=f"commits-{cursor + 1}-{newest}:{first}..{last}",
            asset_selection=WINDOW_ASSETS,
            tags={
                RANGE_START: first,
                RANGE_END: last,
                **stage_tags("windows"),
                "backwater/commits": f"{cursor + 1}-{newest}",
                "backwater/origins": origins,
            },
        )
        for first, last in contiguous_ranges(wanted, existing)
    ]
    context.log.info(
        f"commits #{cursor + 1}..#{newest} ({origins}) touched {len(wanted)} month(s): {wanted}"
    )
    return dg.SensorResult(run_requests=requests, cursor=str(newest))
