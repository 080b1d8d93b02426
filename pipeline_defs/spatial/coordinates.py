"""Coordinate validation: which readings have a location the spatial join may use.

Owns the rule, applied to whole arrays at once:
- longitude and latitude are finite, |latitude| <= 90 and |longitude| <= 180, else
  ``bad_coordinates``;
- (0, 0) — "null island", the usual sign of a GPS fix that never happened — is refused with
  ``null_island`` unless the sensor is registered there.

Invariant: every row is either ok (reason ``None``) or has exactly one reason, a
``QuarantineReason`` value. Range checks come before the null-island check.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from pipeline_defs.reading import QuarantineReason


def validate_coordinates(
    lon: np.ndarray,
    lat: np.ndarray,
    sensor_ids: np.ndarray | Iterable[str],
    registered_null_island: frozenset[str] = frozenset(),
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(ok_mask, reasons)``: a bool array, and an object array of reason strings/None."""
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    if lon.shape != lat.shape:
        raise ValueError(f"lon and lat differ in shape: {lon.shape} vs {lat.shape}")
    with np.errstate(invalid="ignore"):
        in_range = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
    null_island = in_range & (lon == 0) & (lat == 0)
    if registered_null_island and null_island.any():
        sensors = np.asarray(sensor_ids, dtype=object)
        if sensors.shape != lon.shape:
            raise ValueError(f"sensor_ids shape {sensors.shape} differs from lon {lon.shape}")
        registered = pd.Index(sensors).isin(list(registered_null_island))
        null_island &= ~np.asarray(registered, dtype=bool)
    reasons = np.full(lon.shape, None, dtype=object)
    reasons[~in_range] = QuarantineReason.BAD_COORDINATES.value
    reasons[null_island] = QuarantineReason.NULL_ISLAND.value
    return in_range & ~null_island, reasons
