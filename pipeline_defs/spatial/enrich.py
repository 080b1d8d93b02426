"""Enrichment: validate each reading's location, reproject it, and give it its watershed.

Owns ``enrich_readings``: READING_SCHEMA rows in, two outputs out —
- ``enriched``: a GeoDataFrame with every READING_SCHEMA column (longitude, latitude and crs kept as
  they came), ``huc8`` (the watershed code, ``None`` outside every polygon) and a point
  ``geometry`` in ``LAKE_CRS``; rows keep their input order;
- ``quarantine``: QUARANTINE_SCHEMA rows with ``stage="enrich"`` and one reason per row, the first
  failing check in this order:
  1. ``unknown_crs`` — pyproj cannot build the CRS, or it is not geographic;
  2. ``bad_coordinates`` / ``null_island`` — see ``coordinates.validate_coordinates``; also a point
     PROJ cannot transform;
  3. ``non_finite_value`` — the value is NaN, ±inf or null.
  ``detail`` carries the figures, ``raw`` the offending text.

Invariant: ``len(enriched) + quarantine.num_rows == input rows`` (checked; a breach raises).
A reading outside every watershed is not an error: it is enriched with ``huc8 = None``.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely

from pipeline_defs.reading import QUARANTINE_SCHEMA, READING_SCHEMA, QuarantineReason
from pipeline_defs.spatial.coordinates import validate_coordinates
from pipeline_defs.spatial.crs import LAKE_CRS, crs_problem
from pipeline_defs.spatial.join import WatershedIndex

STAGE = "enrich"
# READING_SCHEMA with every field nullable: input is checked here, not by the Arrow cast
_INPUT_SCHEMA = pa.schema([f.with_nullable(True) for f in READING_SCHEMA])


@dataclass
class EnrichResult:
    enriched: gpd.GeoDataFrame
    quarantine: pa.Table

    @property
    def rows_in(self) -> int:
        return len(self.enriched) + self.quarantine.num_rows

    def reason_counts(self) -> dict[str, int]:
        if self.quarantine.num_rows == 0:
            return {}
        counts = self.quarantine.column("reason").value_counts().to_pylist()
        return {c["values"]: int(c["counts"]) for c in counts}


def enrich_readings(
    readings: pa.Table | pd.DataFrame,
    index: WatershedIndex,
    registered_null_island: frozenset[str] = frozenset(),
) -> EnrichResult:
    """Split readings into enriched rows and quarantined rows (see module docstring)."""
    table = _as_reading_table(readings)
    n = table.num_rows
    lon = _float_column(table, "longitude")
    lat = _float_column(table, "latitude")
    value = _float_column(table, "value")
    crs = _object_column(table, "crs")
    sensor_ids = _object_column(table, "sensor_id")

    rejects = _Rejects(n)

    # 1. CRS: checked once per distinct value
    crs_codes, crs_values = pd.factorize(crs, use_na_sentinel=False)
    problems = np.array([crs_problem(c) for c in crs_values], dtype=object)
    row_problem = problems[crs_codes]
    bad_crs = pd.notna(row_problem)
    rejects.add(bad_crs, QuarantineReason.UNKNOWN_CRS.value, row_problem[bad_crs], crs[bad_crs])

    # 2. coordinates
    ok, coord_reason = validate_coordinates(lon, lat, sensor_ids, registered_null_island)
    bad = rejects.pending & ~ok
    rejects.add(
        bad,
        coord_reason[bad],
        _coordinate_detail(lon[bad], lat[bad], crs[bad]),
        _lonlat_text(lon[bad], lat[bad]),
    )

    # 3. value
    bad = rejects.pending & ~np.isfinite(value)
    text = _text(value[bad])
    rejects.add(bad, QuarantineReason.NON_FINITE_VALUE.value, _concat("value=", text), text)

    # join the rest
    good = np.flatnonzero(rejects.pending)
    located = index.locate(lon[good], lat[good], crs[good])
    placed = np.isfinite(located.x) & np.isfinite(located.y)
    if not placed.all():  # PROJ could not transform these points
        rows = good[~placed]
        mask = np.zeros(n, dtype=bool)
        mask[rows] = True
        lonlat = _lonlat_text(lon[rows], lat[rows])
        rejects.add(
            mask,
            QuarantineReason.BAD_COORDINATES.value,
            _concat(
                "PROJ could not transform ", lonlat, " from ", _text(crs[rows]), f" to {LAKE_CRS}"
            ),
            lonlat,
        )
        good = good[placed]
    huc8, x, y = located.huc8[placed], located.x[placed], located.y[placed]

    enriched = _enriched_frame(table.take(pa.array(good, type=pa.int64())), huc8, x, y)
    quarantine = rejects.table(table)
    if len(enriched) + quarantine.num_rows != n:
        raise RuntimeError(
            f"enrich lost rows: {len(enriched):,} enriched + {quarantine.num_rows:,} quarantined "
            f"!= {n:,} in"
        )
    return EnrichResult(enriched=enriched, quarantine=quarantine)


def _as_reading_table(readings: pa.Table | pd.DataFrame) -> pa.Table:
    names = READING_SCHEMA.names
    present = readings.column_names if isinstance(readings, pa.Table) else list(readings.columns)
    missing = [c for c in names if c not in present]
    if missing:
        raise ValueError(f"readings lack READING_SCHEMA columns {missing}; have {present}")
    if isinstance(readings, pa.Table):
        return readings.select(names).cast(_INPUT_SCHEMA)
    return pa.Table.from_pandas(readings[names], schema=_INPUT_SCHEMA, preserve_index=False)


def _float_column(table: pa.Table, name: str) -> np.ndarray:
    """A float64 column as numpy, nulls as NaN."""
    column = table.column(name)
    return column.to_numpy() if column.null_count == 0 else column.fill_null(np.nan).to_numpy()


def _object_column(table: pa.Table, name: str) -> np.ndarray:
    return np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=object)


def _text(values: np.ndarray) -> np.ndarray:
    """Each value as text ('nan', 'inf', '200.0', 'None'), as an object array."""
    return np.asarray(values).astype(str).astype(object)


def _concat(*parts: str | np.ndarray) -> np.ndarray:
    """Element-wise concatenation of text arrays and constant strings, as an object array."""
    out: np.ndarray | str = ""
    for part in parts:
        out = np.char.add(out, part if isinstance(part, str) else part.astype(str))
    return np.asarray(out).astype(object)


def _lonlat_text(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return _concat(_text(lon), ",", _text(lat))


def _coordinate_detail(lon: np.ndarray, lat: np.ndarray, crs: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        why = np.select(
            [
                ~(np.isfinite(lon) & np.isfinite(lat)),
                np.abs(lat) > 90,
                np.abs(lon) > 180,
            ],
            ["not finite", "|latitude| > 90", "|longitude| > 180"],
            default="(0, 0) null island, sensor not registered there",
        )
    return _concat("longitude=", _text(lon), " latitude=", _text(lat), " (", _text(crs), "): ", why)


def _enriched_frame(
    table: pa.Table, huc8: np.ndarray, x: np.ndarray, y: np.ndarray
) -> gpd.GeoDataFrame:
    frame = table.to_pandas()
    frame["huc8"] = pd.Series(huc8, index=frame.index, dtype=object)
    # fixed sensors repeat one location: build each distinct point once and share it
    inverse, unique_xy = pd.factorize(x + 1j * y, use_na_sentinel=False)
    unique_xy = np.asarray(unique_xy)
    points = shapely.points(unique_xy.real, unique_xy.imag)[inverse]
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(points, index=frame.index), crs=LAKE_CRS)


class _Rejects:
    """Quarantine reasons collected over one batch: at most one reason per row, first wins."""

    def __init__(self, n: int) -> None:
        self.reason = np.full(n, None, dtype=object)
        self.detail = np.full(n, None, dtype=object)
        self.raw = np.full(n, None, dtype=object)
        self.pending = np.ones(n, dtype=bool)

    def add(
        self,
        mask: np.ndarray,
        reason: str | np.ndarray,
        detail: np.ndarray,
        raw: np.ndarray,
    ) -> None:
        """Reject the rows of ``mask`` (all still pending); arrays are aligned with mask's rows."""
        if (mask & ~self.pending).any():
            raise AssertionError(f"{int((mask & ~self.pending).sum())} rows rejected twice")
        self.reason[mask] = reason
        self.detail[mask] = detail
        self.raw[mask] = raw
        self.pending &= ~mask

    def table(self, readings: pa.Table) -> pa.Table:
        rows = np.flatnonzero(~self.pending)
        picked = readings.take(pa.array(rows, type=pa.int64()))
        columns = {
            "stage": pa.array([STAGE] * rows.size, type=pa.string()),
            "reason": pa.array(self.reason[rows].tolist(), type=pa.string()),
            "detail": pa.array(self.detail[rows].tolist(), type=pa.string()),
            "source": picked.column("source").fill_null("<unknown>"),
            "location": pa.nulls(rows.size, type=pa.string()),
            "sensor_id": picked.column("sensor_id"),
            "parameter": picked.column("parameter"),
            "event_time": picked.column("event_time"),
            "raw": pa.array(self.raw[rows].tolist(), type=pa.string()),
        }
        return pa.table(columns, schema=QUARANTINE_SCHEMA)
