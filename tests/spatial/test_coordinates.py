"""Coordinate validation: ranges, finiteness and null island, one reason per row."""

from __future__ import annotations

import numpy as np

from pipeline_defs.reading import QuarantineReason
from pipeline_defs.spatial.coordinates import validate_coordinates

BAD = QuarantineReason.BAD_COORDINATES.value
NULL = QuarantineReason.NULL_ISLAND.value


def test_each_rule_and_its_reason() -> None:
    cases = [
        # lon, lat, sensor, expected reason
        (-80.0, 40.4, "a", None),
        (180.0, -90.0, "a", None),  # the limits themselves are fine
        (-180.0, 90.0, "a", None),
        (np.nan, 40.0, "a", BAD),
        (-80.0, np.inf, "a", BAD),
        (-80.0, 95.0, "a", BAD),
        (200.0, 40.0, "a", BAD),
        (-180.0000001, 0.0, "a", BAD),
        (0.0, 0.0, "a", NULL),
        (-0.0, 0.0, "a", NULL),
        (0.0, 0.0, "buoy-0", None),  # registered at null island
        (0.0, 1e-9, "a", None),  # near null island is not null island
    ]
    lon = np.array([c[0] for c in cases])
    lat = np.array([c[1] for c in cases])
    sensors = np.array([c[2] for c in cases], dtype=object)
    ok, reasons = validate_coordinates(lon, lat, sensors, frozenset({"buoy-0"}))
    assert reasons.tolist() == [c[3] for c in cases]
    assert ok.tolist() == [c[3] is None for c in cases]


def test_null_island_refused_when_nobody_is_registered() -> None:
    ok, reasons = validate_coordinates(np.zeros(3), np.zeros(3), ["a", "b", "buoy-0"])
    assert not ok.any()
    assert reasons.tolist() == [NULL] * 3
