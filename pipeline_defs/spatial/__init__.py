"""The spatial stage: where a reading is, and which watershed it belongs to.

- ``crs``: the lake's CRS and the one cached ``always_xy`` transformer per CRS pair;
- ``watersheds``: load, validate, repair and reproject the watershed polygons;
- ``coordinates``: which coordinates may be used at all (ranges, null island);
- ``join``: the fast point-in-polygon join and its boundary rule (lowest code wins);
- ``enrich``: readings in, enriched GeoDataFrame + quarantine out, nothing lost;
- ``geoparquet``: atomic GeoParquet 1.1 output.

No Dagster here: the wiring in ``pipeline_defs.defs`` calls these functions.
"""
