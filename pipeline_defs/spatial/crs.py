"""Coordinate reference systems: the lake's CRS and the one cached transformer per CRS pair.

Owns:
- ``LAKE_CRS`` — the CRS of every geometry the spatial stage writes: WGS 84 longitude/latitude
  (EPSG:4326 datum, coordinates stored x = longitude, y = latitude, i.e. OGC:CRS84 axis order, as
  GeoParquet requires).
- ``get_transformer`` — one ``pyproj.Transformer`` per (source, target) pair per process, built with
  ``always_xy=True``: input and output are always (longitude, latitude) / (easting, northing),
  whatever axis order the CRS definition declares. Axis order is never guessed.
- ``crs_problem`` — why a CRS string cannot be used for readings (pyproj cannot build it, or it is
  not geographic), or ``None``.

Readings arrive as EPSG:4269 (NAD83, USGS), EPSG:4326 (WGS 84, ESDR monitors), maybe EPSG:4267
(NAD27). With the PROJ data shipped in pyproj (no network grids), NAD83 -> WGS 84 is the EPSG null
transformation (coordinates unchanged); NAD27 -> WGS 84 shifts points by tens of metres.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError, ProjError

LAKE_CRS = "EPSG:4326"


class UnknownCRSError(ValueError):
    """A CRS string that cannot be used for readings (see ``crs_problem`` for the reason)."""


@lru_cache(maxsize=64)
def get_transformer(src: str, dst: str) -> Transformer:
    """The process-wide transformer from ``src`` to ``dst``, (x, y) = (lon, lat) on both sides."""
    return Transformer.from_crs(src, dst, always_xy=True)


@lru_cache(maxsize=256)
def crs_problem(crs: str | None) -> str | None:
    """Why readings with this CRS cannot be located, or ``None`` if they can.

    A usable CRS parses in pyproj, is geographic (the reading columns are longitude/latitude) and
    has a transformer to ``LAKE_CRS``.
    """
    if crs is None or not isinstance(crs, str) or not crs.strip():
        return f"no CRS given ({crs!r})"
    try:
        parsed = CRS.from_user_input(crs)
    except CRSError as exc:
        return f"pyproj cannot build CRS {crs!r}: {exc}"
    if not parsed.is_geographic:
        return f"CRS {crs!r} ({parsed.name}) is not geographic; readings carry longitude/latitude"
    try:
        get_transformer(crs, LAKE_CRS)
    except (CRSError, ProjError) as exc:
        return f"no transformation from {crs!r} to {LAKE_CRS}: {exc}"
    return None


def transform_lonlat(
    lon: np.ndarray, lat: np.ndarray, src: str, dst: str
) -> tuple[np.ndarray, np.ndarray]:
    """Transform whole arrays of (lon, lat) in ``src`` to (x, y) in ``dst``.

    Points PROJ cannot transform come back as ``inf``; callers treat non-finite output as
    "no location". Raises ``UnknownCRSError`` if either CRS is unusable.
    """
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    if lon.shape != lat.shape:
        raise ValueError(f"lon and lat differ in shape: {lon.shape} vs {lat.shape}")
    if src == dst:
        return lon.copy(), lat.copy()
    try:
        transformer = get_transformer(src, dst)
    except (CRSError, ProjError) as exc:
        raise UnknownCRSError(
            f"cannot transform {lon.size:,} points from {src!r} to {dst!r}: {exc}"
        ) from exc
    x, y = transformer.transform(lon, lat, errcheck=False)
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
