"""GeoParquet output of the spatial stage: one atomic, durable file per call.

Owns ``write_geoparquet``. Every file it writes:
- is GeoParquet 1.1.0: ``geo`` metadata with the CRS as PROJJSON, WKB geometry and a ``bbox``
  covering column (xmin, ymin, xmax, ymax) so readers can skip row groups;
- is zstd-compressed, in row groups of ``ROW_GROUP_ROWS`` rows;
- appears under its final name complete or not at all (``lake.atomic.atomic_write``: temporary
  name, fsync, rename, fsync the folder); a crash never leaves a truncated ``<name>``.

An empty frame still writes a valid file (schema and ``geo`` metadata, no rows). A frame without a
CRS is refused: the lake never holds geometry whose CRS a reader would have to guess.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd

from pipeline_defs.lake.atomic import atomic_write

ROW_GROUP_ROWS = 100_000
COMPRESSION = "zstd"
SCHEMA_VERSION = "1.1.0"


def write_geoparquet(gdf: gpd.GeoDataFrame, path: Path) -> int:
    """Write ``gdf`` to ``path`` atomically as GeoParquet 1.1; return the bytes written."""
    path = Path(path)
    if gdf.crs is None:
        raise ValueError(f"refusing to write {path}: the frame has no CRS ({len(gdf):,} rows)")
    return atomic_write(
        path,
        lambda tmp: gdf.to_parquet(
            tmp,
            index=False,
            compression=COMPRESSION,
            geometry_encoding="WKB",
            write_covering_bbox=True,
            schema_version=SCHEMA_VERSION,
            row_group_size=ROW_GROUP_ROWS,
        ),
    )
