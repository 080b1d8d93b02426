"""The watershed join against ground truth: USGS gauges with their official HUC8, the Pittsburgh
monitors, the boundary rule on real shared edges, and the naive geopandas join."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from pipeline_defs.spatial.crs import UnknownCRSError
from pipeline_defs.spatial.join import WatershedIndex, assign_slow_reference
from pipeline_defs.spatial.watersheds import Watersheds

# site_no -> (assigned by the join, official huc_cd, why they differ). A new mismatch fails.
EXPECTED_MISMATCHES = {
    "03215000": (
        "05070204",
        "05070201",
        "divide: Big Sandy at Louisa sits at the Tug/Levisa confluence; the simplified "
        "05070201 polygon is 6.7 km away",
    ),
    "03216564": (
        "05090104",
        "05070204",
        "divide: Mile Branch at Coalton lies by the Big Sandy/Little Sandy divide; the "
        "simplified 05070204 polygon is 10.3 km away",
    ),
    "03400000": (
        "05130101",
        "05130103",
        "official code looks wrong in the source: the Poor Fork heads the Upper Cumberland "
        "(05130101); 05130103 is 128 km away",
    ),
    "03400500": (
        "05130101",
        "05130103",
        "official code looks wrong in the source: 05130103 is 120 km away",
    ),
}


@pytest.fixture(scope="module")
def nwis_assigned(appalachian: Watersheds, nwis_sites: pd.DataFrame) -> pd.DataFrame:
    index = WatershedIndex(appalachian)
    assert (nwis_sites["dec_coord_datum_cd"] == "NAD83").all()
    sites = nwis_sites.copy()
    assigned = index.assign(sites["lon"], sites["lat"], "EPSG:4269")
    assert assigned.dtype == object and all(v is None or isinstance(v, str) for v in assigned)
    sites["assigned"] = pd.Series(assigned, index=sites.index, dtype=object)
    return sites


def test_nwis_gauges_inside_polygons_match_their_official_huc8(
    nwis_assigned: pd.DataFrame,
) -> None:
    inside = nwis_assigned[nwis_assigned["assigned"].notna()]
    assert len(nwis_assigned) == 206
    assert len(inside) == 176
    mismatched = inside[inside["assigned"] != inside["huc_cd"]]
    found = {row.site_no: (row.assigned, row.huc_cd) for row in mismatched.itertuples(index=False)}
    assert found == {site: exp[:2] for site, exp in EXPECTED_MISMATCHES.items()}
    agreement = 1 - len(mismatched) / len(inside)
    assert agreement >= 0.97, f"{agreement:.1%} of {len(inside)} gauges agree"
    assert len(inside) - len(mismatched) == 172


def test_expected_mismatch_reasons_hold(appalachian: Watersheds, nwis_sites: pd.DataFrame) -> None:
    """'divide' mismatches lie within 15 km of the official polygon; 'wrong' ones over 100 km."""
    polygons = appalachian.frame.set_index("huc8").to_crs("EPSG:5070").geometry
    sites = nwis_sites.set_index("site_no")
    for site, (_, official, reason) in EXPECTED_MISMATCHES.items():
        point = (
            gpd.GeoSeries(
                gpd.points_from_xy([sites.loc[site, "lon"]], [sites.loc[site, "lat"]]),
                crs="EPSG:4269",
            )
            .to_crs("EPSG:5070")
            .iloc[0]
        )
        km = polygons.loc[official].distance(point) / 1000
        if reason.startswith("divide"):
            assert 0 < km < 15, (site, km)
        else:
            assert km > 100, (site, km)


def test_nwis_gauges_outside_every_polygon_get_none(
    nwis_assigned: pd.DataFrame, appalachian: Watersheds
) -> None:
    outside = nwis_assigned[nwis_assigned["assigned"].isna()]
    assert len(outside) == 30
    assert all(v is None for v in outside["assigned"])
    # independent check: their official HUC8 is not in the polygon file at all
    assert not outside["huc_cd"].isin(appalachian.codes).any()


def test_pittsburgh_monitors_fall_in_three_watersheds(
    appalachian_index: WatershedIndex, appalachian: Watersheds, source_data: Path
) -> None:
    feeds = pd.DataFrame(
        json.loads((source_data / "air_quality_pittsburgh/esdr_metadata.json").read_text())
    )
    assert len(feeds) == 14
    assigned = appalachian_index.assign(feeds["longitude"], feeds["latitude"], "EPSG:4326")
    by_feed = dict(zip(feeds["id"], assigned, strict=True))
    assert by_feed == {
        1: "05030101",  # Avalon: Upper Ohio, below the Point
        3: "05020005",
        23: "05010009",  # Flag Plaza: ~4 m from the Allegheny/Monongahela divide
        24: "05020005",
        26: "05010009",
        27: "05010009",
        28: "05020005",
        29: "05020005",
        43: "05020005",
        3506: "05010009",
        3508: "05020005",
        5975: "05020005",
        11067: "05020005",
        59665: "05010009",
    }
    names = appalachian.frame.set_index("huc8")["name"]
    assert sorted(names[sorted(set(assigned))]) == [
        "Lower Allegheny",
        "Lower Monongahela",
        "Upper Ohio",
    ]


def _shared_vertices(raw: gpd.GeoDataFrame, code_column: str) -> pd.DataFrame:
    """Vertices (in the file's own coordinates) that appear in the rings of 2+ polygons."""
    frames = []
    for code, geom in zip(raw[code_column], raw.geometry, strict=True):
        xy = np.unique(shapely.get_coordinates(geom), axis=0)
        frames.append(pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "code": code}))
    vertices = pd.concat(frames)
    grouped = vertices.groupby(["x", "y"])["code"].agg(["nunique", "min"]).reset_index()
    return grouped[grouped["nunique"] > 1]


def _shared_segments(raw: gpd.GeoDataFrame, code_column: str) -> pd.DataFrame:
    """Ring segments (identical end points) that belong to exactly two polygons."""
    frames = []
    for code, geom in zip(raw[code_column], raw.geometry, strict=True):
        for ring in [geom.exterior, *geom.interiors]:
            xy = shapely.get_coordinates(ring)
            a, b = xy[:-1], xy[1:]
            swap = (a[:, 0] > b[:, 0]) | ((a[:, 0] == b[:, 0]) & (a[:, 1] > b[:, 1]))
            a, b = np.where(swap[:, None], b, a), np.where(swap[:, None], a, b)
            frames.append(
                pd.DataFrame({"ax": a[:, 0], "ay": a[:, 1], "bx": b[:, 0], "by": b[:, 1]}).assign(
                    code=code
                )
            )
    segments = pd.concat(frames)
    grouped = segments.groupby(["ax", "ay", "bx", "by"])["code"].agg(["nunique", "min"])
    return grouped[grouped["nunique"] == 2].reset_index()


@pytest.fixture(scope="module")
def navarro_raw(source_data: Path) -> gpd.GeoDataFrame:
    raw = gpd.read_file(source_data / "watersheds_navarro/WBDHU12_Navarro+Adjacent.shp")
    assert raw.crs.to_epsg() == 4269
    return raw


def test_boundary_rule_on_shared_vertices_lowest_huc12_wins(
    navarro_huc12: Watersheds, navarro_raw: gpd.GeoDataFrame
) -> None:
    shared = _shared_vertices(navarro_raw, "HUC12")
    assert len(shared) == 12_799
    assert (shared["nunique"] >= 3).sum() == 36  # triple (and one quadruple) points
    index = WatershedIndex(navarro_huc12)
    assigned = index.assign(shared["x"], shared["y"], "EPSG:4269")
    assert assigned.tolist() == shared["min"].tolist()


def test_boundary_rule_on_shared_edges_lowest_huc12_wins(
    navarro_huc12: Watersheds, navarro_raw: gpd.GeoDataFrame
) -> None:
    segments = _shared_segments(navarro_raw, "HUC12")
    assert len(segments) == 12_810
    fraction = np.random.default_rng(12).uniform(0.05, 0.95, len(segments))
    x = segments["ax"] + (segments["bx"] - segments["ax"]) * fraction
    y = segments["ay"] + (segments["by"] - segments["ay"]) * fraction
    # rounding puts most of these a hair to one side of the edge: exact predicates alone would
    # give the polygon on that side, not the lowest code
    polygons = np.asarray(navarro_huc12.frame.geometry.values, dtype=object)
    points = shapely.points(x.to_numpy(), y.to_numpy())
    covered_by = shapely.covers(polygons[:, None], points[None, :]).sum(axis=0)
    assert (covered_by == 1).sum() > len(segments) // 2
    index = WatershedIndex(navarro_huc12)
    assigned = index.assign(x.to_numpy(), y.to_numpy(), "EPSG:4269")
    assert assigned.tolist() == segments["min"].tolist()


def test_a_point_lands_in_the_same_polygon_through_nad83_or_wgs84(
    navarro_huc12: Watersheds, navarro_raw: gpd.GeoDataFrame
) -> None:
    shared = _shared_vertices(navarro_raw, "HUC12")
    rng = np.random.default_rng(7)
    minx, miny, maxx, maxy = navarro_raw.total_bounds
    lon = np.concatenate([shared["x"], rng.uniform(minx, maxx, 2000)])
    lat = np.concatenate([shared["y"], rng.uniform(miny, maxy, 2000)])
    to_wgs84 = Transformer.from_crs("EPSG:4269", "EPSG:4326", always_xy=True)
    wlon, wlat = to_wgs84.transform(lon, lat)
    via_nad83 = WatershedIndex(navarro_huc12).assign(lon, lat, "EPSG:4269")
    via_wgs84 = WatershedIndex(navarro_huc12).assign(wlon, wlat, "EPSG:4326")
    assert via_nad83.tolist() == via_wgs84.tolist()
    assert pd.notna(via_nad83).sum() > len(shared)  # many random points are inside, too


def test_fast_join_equals_geopandas_sjoin(
    appalachian: Watersheds, nwis_sites: pd.DataFrame
) -> None:
    rng = np.random.default_rng(2024)
    minx, miny, maxx, maxy = appalachian.frame.total_bounds
    n_random = 10_000
    lon = np.concatenate([nwis_sites["lon"], rng.uniform(minx, maxx, n_random), [np.nan]])
    lat = np.concatenate([nwis_sites["lat"], rng.uniform(miny, maxy, n_random), [40.0]])
    crs = np.array(
        ["EPSG:4269"] * len(nwis_sites) + ["EPSG:4326"] * n_random + ["EPSG:4326"], dtype=object
    )
    fast = WatershedIndex(appalachian).assign(lon, lat, crs)
    slow = assign_slow_reference(appalachian, lon, lat, crs)
    assert fast.tolist() == slow.tolist()
    inside = pd.notna(fast).sum()
    assert 176 + 2000 < inside < 176 + 5000  # about a third of the bbox is covered
    assert fast[-1] is None


def test_cache_answers_repeat_locations_the_same_way(appalachian: Watersheds) -> None:
    index = WatershedIndex(appalachian, cache_max_locations=25)
    lon = np.array([-80.0, -79.9611, -80.0, -82.0])
    lat = np.array([40.4, 40.4656, 40.4, 38.0])
    first = index.assign(lon, lat, "EPSG:4326")
    assert index.cached_locations == 3
    assert index.assign(lon, lat, "EPSG:4326").tolist() == first.tolist()
    assert index.cached_locations == 3
    # the same numbers in another CRS are another location
    index.assign(lon[:1], lat[:1], "EPSG:4267")
    assert index.cached_locations == 4
    # overflowing the bound clears the cache and keeps the new batch
    many = np.linspace(-81, -80, 22)
    index.assign(many, np.full(22, 40.0), "EPSG:4326")
    assert index.cached_locations == 22
    fresh = WatershedIndex(appalachian)
    assert (
        index.assign(lon, lat, "EPSG:4326").tolist() == fresh.assign(lon, lat, "EPSG:4326").tolist()
    )


def test_locate_returns_lake_coordinates_and_none_for_unusable_points(
    appalachian_index: WatershedIndex,
) -> None:
    located = appalachian_index.locate(
        np.array([-80.0, np.nan, -80.0]), np.array([40.0, 40.0, 40.0]), "EPSG:4267"
    )
    assert located.huc8[1] is None
    assert np.isnan(located.x[1]) and np.isnan(located.y[1])
    ref_x, ref_y = Transformer.from_crs("EPSG:4267", "EPSG:4326", always_xy=True).transform(
        -80.0, 40.0
    )
    assert (located.x[0], located.y[0]) == (ref_x, ref_y)
    assert located.huc8[0] == located.huc8[2] is not None


def test_unknown_crs_is_an_error_with_the_count(appalachian_index: WatershedIndex) -> None:
    with pytest.raises(UnknownCRSError, match="3 points in CRS 'EPSG:999999'"):
        appalachian_index.assign(np.zeros(3), np.zeros(3), "EPSG:999999")
