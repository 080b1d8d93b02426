"""CRS handling: one cached transformer per pair, always (lon, lat), never guessed."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Transformer

from pipeline_defs.spatial.crs import (
    LAKE_CRS,
    UnknownCRSError,
    crs_problem,
    get_transformer,
    transform_lonlat,
)


def test_transformer_is_built_once_per_pair() -> None:
    first = get_transformer("EPSG:4267", LAKE_CRS)
    assert get_transformer("EPSG:4267", LAKE_CRS) is first
    assert get_transformer("EPSG:4269", LAKE_CRS) is not first


def test_nad27_shift_matches_pyproj_in_its_own_authority_axis_order() -> None:
    lon = np.array([-80.0, -79.9611, -123.5])
    lat = np.array([40.0, 40.4656, 39.1])
    x, y = transform_lonlat(lon, lat, "EPSG:4267", LAKE_CRS)
    # independent: EPSG:4267 and EPSG:4326 are latitude-first by their definitions
    authority = Transformer.from_crs("EPSG:4267", "EPSG:4326")
    lat_ref, lon_ref = authority.transform(lat, lon)
    np.testing.assert_array_equal(x, lon_ref)
    np.testing.assert_array_equal(y, lat_ref)
    # NAD27 -> WGS 84 moves points by metres to ~100 m, not degrees (an axis swap would)
    assert np.all(np.abs(x - lon) < 0.002) and np.all(np.abs(y - lat) < 0.002)
    assert np.all((x != lon) | (y != lat))


def test_nad83_to_wgs84_is_the_null_transformation() -> None:
    lon = np.array([-80.071337, -81.3428766])
    lat = np.array([40.499767, 36.53484707])
    x, y = transform_lonlat(lon, lat, "EPSG:4269", LAKE_CRS)
    np.testing.assert_array_equal(x, lon)
    np.testing.assert_array_equal(y, lat)


def test_crs_problems_are_explained() -> None:
    assert crs_problem("EPSG:4269") is None
    assert crs_problem("EPSG:4326") is None
    assert crs_problem("OGC:CRS84") is None
    assert "cannot build CRS 'EPSG:999999'" in crs_problem("EPSG:999999")
    assert "not geographic" in crs_problem("EPSG:32617")
    assert "no CRS given" in crs_problem(None)
    assert "no CRS given" in crs_problem("")
    with pytest.raises(UnknownCRSError, match="cannot transform 2 points from 'EPSG:999999'"):
        transform_lonlat(np.zeros(2), np.zeros(2), "EPSG:999999", LAKE_CRS)
