"""Which watershed a reading lies in: the point-in-polygon join, fast and vectorised.

Owns ``WatershedIndex`` — prepared polygons, a per-CRS cache of location -> (x, y, watershed) and
the join itself — and ``assign_slow_reference``, the naive geopandas join kept only to check the
fast one and to benchmark against.

How the fast path works (``WatershedIndex.locate``):
1. rows are reduced to their unique (crs, lon, lat) locations: fixed sensors repeat one location
   millions of times, so the join runs once per location, not once per reading;
2. locations already seen are answered from the cache (bounded by ``cache_max_locations``; when a
   batch would overflow it the cache is cleared and refilled with that batch's locations);
3. new locations are transformed per CRS with the process-wide cached transformer to ``LAKE_CRS``;
4. an STRtree is built over the *points* and queried with the *prepared polygons* (one query per
   polygon, predicate ``dwithin`` at the boundary tolerance — ``covers`` when the tolerance is 0),
   the fast orientation. ``sjoin(points, polygons, "intersects")`` indexes the polygons and tests
   each point against them unprepared: the slow orientation.

Boundary rule: a point belongs to the polygons whose closed area lies within
``boundary_tolerance_deg`` (default 1e-9 degree, about 0.1 mm) of it — so a point on a shared edge
or vertex is a candidate of every polygon that shares it, even when rounding puts it a hair off the
edge. Among its candidates, a point belongs to exactly one: the one with the lowest code
(lexicographic order of the code strings, e.g. "05010009" before "05020005"). A point with no
candidate has no watershed (``None``), which is never an error. Non-finite coordinates, and points
PROJ cannot transform, have no watershed either.

Invariants: ``assign`` returns one entry per input row, each a code of the index or ``None``; the
answer for a location never depends on the batch it came in or on the cache state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from pipeline_defs.spatial.crs import LAKE_CRS, UnknownCRSError, crs_problem, transform_lonlat
from pipeline_defs.spatial.watersheds import Watersheds

BOUNDARY_TOLERANCE_DEG = 1e-9
DEFAULT_CACHE_MAX_LOCATIONS = 1_000_000

CRSArg = str | Sequence[str] | np.ndarray | pd.Series


@dataclass(frozen=True)
class Located:
    """Per input row: the watershed code (or None) and the point's x, y in ``LAKE_CRS``."""

    huc8: np.ndarray  # object: str | None
    x: np.ndarray  # float64, NaN where the location is unusable
    y: np.ndarray


@dataclass
class _CrsCache:
    keys: pd.Index  # complex128: lon + 1j * lat, as given in the source CRS
    x: np.ndarray
    y: np.ndarray
    polygon: np.ndarray  # int32 position in the index, -1 = none


class WatershedIndex:
    """Prepared watershed polygons plus a location cache; see the module docstring for the rule."""

    def __init__(
        self,
        watersheds: Watersheds,
        *,
        boundary_tolerance_deg: float = BOUNDARY_TOLERANCE_DEG,
        cache_max_locations: int = DEFAULT_CACHE_MAX_LOCATIONS,
    ) -> None:
        if boundary_tolerance_deg < 0:
            raise ValueError(f"boundary_tolerance_deg must be >= 0, got {boundary_tolerance_deg}")
        frame = watersheds.frame
        if frame.crs is None or not frame.crs.equals(LAKE_CRS):
            raise ValueError(f"watersheds must be in {LAKE_CRS}, got {frame.crs}")
        ordered = frame.sort_values("huc8", kind="stable")
        self._codes = ordered["huc8"].to_numpy(dtype=object)
        # position -1 (no polygon) maps to the trailing None
        self._code_or_none = np.append(self._codes, np.array([None], dtype=object))
        self._polygons = np.asarray(ordered.geometry.values, dtype=object).copy()
        shapely.prepare(self._polygons)
        self.boundary_tolerance_deg = float(boundary_tolerance_deg)
        self.cache_max_locations = int(cache_max_locations)
        self._cache: dict[str, _CrsCache] = {}

    @property
    def codes(self) -> list[str]:
        """Codes in priority order (lowest first)."""
        return list(self._codes)

    @property
    def cached_locations(self) -> int:
        return sum(len(c.keys) for c in self._cache.values())

    def clear_cache(self) -> None:
        self._cache.clear()

    def assign(self, lon: np.ndarray, lat: np.ndarray, crs: CRSArg) -> np.ndarray:
        """The watershed code of each (lon, lat) in ``crs`` (one CRS, or one per row), or None."""
        return self.locate(lon, lat, crs).huc8

    def locate(self, lon: np.ndarray, lat: np.ndarray, crs: CRSArg) -> Located:
        """Codes and ``LAKE_CRS`` coordinates for each row. Raises ``UnknownCRSError``."""
        lon = np.asarray(lon, dtype=np.float64)
        lat = np.asarray(lat, dtype=np.float64)
        if lon.shape != lat.shape or lon.ndim != 1:
            raise ValueError(f"lon and lat must be 1-D of one length: {lon.shape} vs {lat.shape}")
        n = lon.size
        x = np.full(n, np.nan)
        y = np.full(n, np.nan)
        polygon = np.full(n, -1, dtype=np.int32)
        usable = np.isfinite(lon) & np.isfinite(lat)
        for group_crs, rows in _crs_groups(crs, n):
            problem = crs_problem(group_crs)
            if problem is not None:
                raise UnknownCRSError(f"{rows.size:,} points in CRS {group_crs!r}: {problem}")
            rows = rows[usable[rows]]
            if rows.size == 0:
                continue
            inverse, unique_keys = pd.factorize(lon[rows] + 1j * lat[rows], use_na_sentinel=False)
            ux, uy, upolygon = self._lookup(group_crs, np.asarray(unique_keys))
            x[rows] = ux[inverse]
            y[rows] = uy[inverse]
            polygon[rows] = upolygon[inverse]
        return Located(huc8=self._code_or_none[polygon], x=x, y=y)

    def polygon_positions(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Points already in ``LAKE_CRS`` -> position of the owning polygon (-1: none); no cache."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        out = np.full(x.size, -1, dtype=np.int32)
        ok = np.isfinite(x) & np.isfinite(y)
        if not ok.any():
            return out
        tree = shapely.STRtree(shapely.points(x[ok], y[ok]))
        if self.boundary_tolerance_deg > 0:
            poly_i, point_i = tree.query(
                self._polygons, predicate="dwithin", distance=self.boundary_tolerance_deg
            )
        else:
            poly_i, point_i = tree.query(self._polygons, predicate="covers")
        none = len(self._polygons)
        best = np.full(int(ok.sum()), none, dtype=np.int64)
        np.minimum.at(best, point_i, poly_i)  # boundary rule: lowest code wins
        best[best == none] = -1
        out[ok] = best
        return out

    def _lookup(self, crs: str, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """x, y, polygon for unique complex keys (lon + 1j*lat) in ``crs``; fills the cache."""
        x = np.empty(keys.size)
        y = np.empty(keys.size)
        polygon = np.empty(keys.size, dtype=np.int32)
        cache = self._cache.get(crs)
        if cache is not None:
            pos = cache.keys.get_indexer(keys)
            hit = pos >= 0
            x[hit], y[hit], polygon[hit] = (
                cache.x[pos[hit]],
                cache.y[pos[hit]],
                cache.polygon[pos[hit]],
            )
        else:
            hit = np.zeros(keys.size, dtype=bool)
        miss = ~hit
        if not miss.any():
            return x, y, polygon
        new_keys = keys[miss]
        mx, my = transform_lonlat(new_keys.real, new_keys.imag, crs, LAKE_CRS)
        mpolygon = self.polygon_positions(mx, my)
        x[miss], y[miss], polygon[miss] = mx, my, mpolygon
        self._remember(crs, new_keys, mx, my, mpolygon)
        return x, y, polygon

    def _remember(
        self, crs: str, keys: np.ndarray, x: np.ndarray, y: np.ndarray, polygon: np.ndarray
    ) -> None:
        if keys.size > self.cache_max_locations:
            return
        if self.cached_locations + keys.size > self.cache_max_locations:
            self._cache.clear()
        old = self._cache.get(crs)
        if old is None:
            self._cache[crs] = _CrsCache(pd.Index(keys), x.copy(), y.copy(), polygon.copy())
        else:
            self._cache[crs] = _CrsCache(
                old.keys.append(pd.Index(keys)),
                np.concatenate([old.x, x]),
                np.concatenate([old.y, y]),
                np.concatenate([old.polygon, polygon]),
            )


def assign_slow_reference(
    watersheds: Watersheds, lon: np.ndarray, lat: np.ndarray, crs: CRSArg
) -> np.ndarray:
    """The naive join, for tests and benchmarks only: one point per row, no dedupe, no cache,
    ``geopandas.sjoin(points, polygons, predicate="intersects")``; lowest code on ties."""
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    n = lon.size
    frames = []
    for group_crs, rows in _crs_groups(crs, n):
        points = gpd.GeoDataFrame(
            {"row": rows}, geometry=gpd.points_from_xy(lon[rows], lat[rows]), crs=group_crs
        )
        frames.append(points.to_crs(LAKE_CRS))
    points = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    joined = gpd.sjoin(
        points, watersheds.frame[["huc8", "geometry"]], how="inner", predicate="intersects"
    )
    lowest = joined.groupby("row")["huc8"].min()
    out = np.full(n, None, dtype=object)
    out[lowest.index.to_numpy(dtype=np.int64)] = lowest.to_numpy(dtype=object)
    return out


def _crs_groups(crs: CRSArg, n: int) -> list[tuple[str, np.ndarray]]:
    """(crs, row positions) per distinct CRS value."""
    if isinstance(crs, str):
        return [(crs, np.arange(n))]
    values = np.asarray(crs, dtype=object)
    if values.shape != (n,):
        raise ValueError(f"crs must be one string or one per row: shape {values.shape}, n={n}")
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    return [(uniques[i], order[bounds[i] : bounds[i + 1]]) for i in range(len(uniques))]
