"""Window aggregates per watershed and parameter: tumbling hourly, sliding 8 h / 24 h."""

from datetime import timedelta

import dagster as dg
import geopandas as gpd
import pandas as pd

from pipeline_defs.defs.resources import BackwaterResource
from pipeline_defs.defs.spatial.assets import enriched_telemetry
from pipeline_defs.defs.windows.partitions import monthly_partitions
from pipeline_defs.lake.atomic import atomic_write
from pipeline_defs.lake.layout import enriched_path, hourly_path, sliding_path
from pipeline_defs.settings import Settings
from pipeline_defs.windows.aggregates import compute_month
from pipeline_defs.windows.time_partitions import input_range_for

HOURLY = dg.AssetKey("hourly_window_aggregates")
SLIDING = dg.AssetKey("sliding_window_aggregates")


def read_enriched(settings: Settings, keys: list[str], start, end) -> pd.DataFrame:
    """Enriched readings of the given months with event time in [start, end)."""
    frames = [
        gpd.read_parquet(path).drop(columns="geometry")
        for key in keys
        if (path := enriched_path(settings, key)).exists()
    ]
    if not frames:
        return pd.DataFrame(
            columns=["huc8", "parameter", "unit", "value", "event_time", "sensor_id"]
        )
    readings = pd.concat(frames, ignore_index=True)
    return readings[(readings["event_time"] >= start) & (readings["event_time"] < end)]


def next_month_key(key: str) -> str:
    return (pd.Timestamp(key) + pd.offsets.MonthBegin(1)).strftime("%Y-%m-%d")


def _write_parquet(frame: pd.DataFrame, path) -> int:
    return atomic_write(path, lambda tmp: frame.to_parquet(tmp, compression="zstd", index=False))


@dg.multi_asset(
    group_name="windows",
    partitions_def=monthly_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool="spatial",
    specs=[
        dg.AssetSpec(
            HOURLY,
            deps=[enriched_telemetry],
            kinds={"parquet"},
            description="Tumbling 1-hour windows [start, end) per HUC8, parameter and unit: "
            "mean, min, max, count, sensor count. Partition = month of window start.",
        ),
        dg.AssetSpec(
            SLIDING,
            deps=[
                dg.AssetDep(
                    enriched_telemetry,
                    # a 24 h window starting late in the month reads the next month's first hours
                    partition_mapping=dg.TimeWindowPartitionMapping(start_offset=0, end_offset=1),
                )
            ],
            kinds={"parquet"},
            description="Sliding 8 h and 24 h windows (step 1 h) per HUC8 and parameter: mean of "
            "hourly means, hours present, completeness, flagged incomplete under the threshold.",
        ),
    ],
)
def window_aggregates(context: dg.AssetExecutionContext, backwater: BackwaterResource):
    settings = backwater.settings
    longest = max(settings.sliding_window_hours)
    now = pd.Timestamp.now(tz="UTC")
    lateness = timedelta(hours=settings.allowed_lateness_hours)
    totals = {
        "hourly_windows": 0,
        "sliding_windows": 0,
        "incomplete": 0,
        "readings": 0,
        "without_watershed": 0,
        "not_final": 0,
    }
    for key in context.partition_keys:
        start, end = input_range_for(key, longest)
        readings = read_enriched(settings, [key, next_month_key(key)], start, end)
        month = compute_month(
            readings,
            key,
            window_hours=settings.sliding_window_hours,
            completeness_threshold=settings.completeness_threshold,
            now=now,
            allowed_lateness=lateness,
        )
        _write_parquet(month.hourly, hourly_path(settings, key))
        _write_parquet(month.sliding, sliding_path(settings, key))
        totals["hourly_windows"] += len(month.hourly)
        totals["sliding_windows"] += len(month.sliding)
        totals["incomplete"] += int((~month.sliding["complete"]).sum())
        totals["not_final"] += int((~month.hourly["is_final"]).sum())
        totals["readings"] += month.readings_used
        totals["without_watershed"] += month.readings_without_watershed
    context.log.info(f"{len(context.partition_keys)} month(s): {totals}")
    common = {
        "partitions": dg.MetadataValue.int(len(context.partition_keys)),
        "readings": dg.MetadataValue.int(totals["readings"]),
        "readings_without_watershed": dg.MetadataValue.int(totals["without_watershed"]),
    }
    yield dg.MaterializeResult(
        asset_key=HOURLY,
        metadata={
            **common,
            "windows": dg.MetadataValue.int(totals["hourly_windows"]),
            "windows_not_final": dg.MetadataValue.int(totals["not_final"]),
        },
    )
    yield dg.MaterializeResult(
        asset_key=SLIDING,
        metadata={
            **common,
            "windows": dg.MetadataValue.int(totals["sliding_windows"]),
            "windows_incomplete": dg.MetadataValue.int(totals["incomplete"]),
        },
    )
