"""Spatial assets: validated watershed polygons, and readings enriched with their watershed."""

from collections import Counter

import dagster as dg
import pandas as pd
import pyarrow.parquet as pq

from pipeline_defs.defs.landing.assets import landed_readings
from pipeline_defs.defs.resources import BackwaterResource
from pipeline_defs.defs.windows.partitions import monthly_partitions
from pipeline_defs.ingress.nwis_rdb import read_nwis_sites
from pipeline_defs.lake.atomic import atomic_write
from pipeline_defs.lake.layout import enrich_quarantine_path, enriched_path, watersheds_path
from pipeline_defs.lake.reader import read_raw
from pipeline_defs.spatial.enrich import enrich_readings
from pipeline_defs.spatial.geoparquet import write_geoparquet
from pipeline_defs.spatial.join import WatershedIndex
from pipeline_defs.spatial.watersheds import Watersheds, load_watersheds
from pipeline_defs.windows.time_partitions import month_bounds

WATERSHED_SOURCE = ("watersheds_appalachian", "WBD_HUC8_PMAS_sa_Geo.json", "PMAS_HUC8_names.csv")


@dg.asset(
    group_name="spatial",
    kinds={"geoparquet"},
    description="The 118 USGS WBD HUC8 polygons of the Appalachian Plateaus: CRS set explicitly "
    "(GeoJSON = OGC:CRS84), validated and repaired, written as GeoParquet 1.1.",
)
def watershed_boundaries(backwater: BackwaterResource) -> dg.MaterializeResult:
    settings = backwater.settings
    folder, geojson, names = WATERSHED_SOURCE
    source = settings.source_data_dir / folder
    watersheds = load_watersheds(source / geojson, source / names)
    frame = watersheds.frame
    size = write_geoparquet(frame, watersheds_path(settings))
    return dg.MaterializeResult(
        metadata={
            "watersheds": dg.MetadataValue.int(len(frame)),
            "crs": str(frame.crs),
            "bbox": [round(v, 4) for v in frame.total_bounds.tolist()],
            "repairs": dg.MetadataValue.json(watersheds.report.counts()),
            "bytes": dg.MetadataValue.int(size),
            "path": dg.MetadataValue.path(str(watersheds_path(settings))),
        }
    )


def load_watershed_index(backwater: BackwaterResource) -> WatershedIndex:
    return WatershedIndex(Watersheds.from_geoparquet(watersheds_path(backwater.settings)))


@dg.asset(
    group_name="spatial",
    kinds={"geoparquet"},
    partitions_def=monthly_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[landed_readings, watershed_boundaries],
    pool="spatial",
    description="Landed readings of one event-time month, coordinates validated, transformed to "
    "EPSG:4326 with a cached always_xy Transformer and joined to their HUC8 (GeoParquet 1.1).",
)
def enriched_telemetry(
    context: dg.AssetExecutionContext, backwater: BackwaterResource
) -> dg.MaterializeResult:
    settings = backwater.settings
    index = load_watershed_index(backwater)
    manifest = backwater.manifest()
    totals: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    try:
        for key in context.partition_keys:
            start, end = month_bounds(key)
            raw = read_raw(settings.lake_dir, manifest, start, end)
            result = enrich_readings(raw, index)
            write_geoparquet(result.enriched, enriched_path(settings, key))
            quarantine = result.quarantine
            atomic_write(
                enrich_quarantine_path(settings, key),
                lambda tmp, q=quarantine: pq.write_table(q, tmp, compression="zstd"),
            )
            totals["landed"] += raw.num_rows
            totals["enriched"] += len(result.enriched)
            totals["without_watershed"] += int(result.enriched["huc8"].isna().sum())
            totals["quarantined"] += quarantine.num_rows
            reasons.update(quarantine["reason"].to_pylist())
    finally:
        manifest.close()
    context.log.info(f"{len(context.partition_keys)} month(s): {dict(totals)}")
    return dg.MaterializeResult(
        metadata={
            "partitions": dg.MetadataValue.int(len(context.partition_keys)),
            "readings_in": dg.MetadataValue.int(totals["landed"]),
            "enriched": dg.MetadataValue.int(totals["enriched"]),
            "without_watershed": dg.MetadataValue.int(totals["without_watershed"]),
            "quarantined": dg.MetadataValue.int(totals["quarantined"]),
            "quarantined_by_reason": dg.MetadataValue.json(dict(reasons)),
        }
    )


@dg.asset_check(
    asset=watershed_boundaries,
    description="USGS gauges of nwis_sites.txt that fall inside the polygons get their official "
    "HUC8 (huc_cd) for at least 97 % (the polygons are simplified, so a few near a divide differ).",
)
def gauges_match_official_huc8(backwater: BackwaterResource) -> dg.AssetCheckResult:
    settings = backwater.settings
    sites = read_nwis_sites(settings.source_data_dir / "usgs_sites" / "nwis_sites.txt").sites
    index = load_watershed_index(backwater)
    assigned = pd.Series(
        index.assign(
            sites["longitude"].to_numpy(), sites["latitude"].to_numpy(), sites["crs"].to_numpy()
        ),
        index=sites.index,
        dtype=object,
    )
    inside = assigned.notna()
    matched = inside & (assigned == sites["huc_cd"])
    share = matched.sum() / max(inside.sum(), 1)
    mismatches = sites.loc[inside & ~matched, ["site_no", "huc_cd"]].assign(assigned=assigned)
    return dg.AssetCheckResult(
        passed=bool(share >= 0.97),
        metadata={
            "gauges": len(sites),
            "inside_polygons": int(inside.sum()),
            "no_watershed": int((~inside).sum()),
            "matching_official_huc8": dg.MetadataValue.float(float(share)),
            "mismatches": dg.MetadataValue.md(mismatches.to_markdown(index=False)),
        },
    )
