"""Watershed loading: real polygons as they are, and every repair on a synthetic file."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyproj
import pytest
import shapely

from pipeline_defs.spatial.crs import LAKE_CRS
from pipeline_defs.spatial.watersheds import Watersheds, load_watersheds


def test_appalachian_huc8_polygons_load_valid_with_leading_zeros(
    appalachian: Watersheds, source_data: Path
) -> None:
    frame = appalachian.frame
    raw = json.loads((source_data / "watersheds_appalachian/WBD_HUC8_PMAS_sa_Geo.json").read_text())
    raw_codes = sorted(f["properties"]["HUC_8"] for f in raw["features"])

    assert len(frame) == 118
    assert frame["huc8"].tolist() == raw_codes  # sorted, unique, strings as in the file
    assert frame["huc8"].nunique() == 118
    assert (frame["huc8"].str.len() == 8).all()
    assert frame["huc8"].str.startswith("0").all()  # the leading zero survived
    assert shapely.is_valid(frame.geometry.values).all()
    assert frame.geometry.geom_type.value_counts().to_dict() == {"Polygon": 117, "MultiPolygon": 1}
    assert list(frame.columns) == ["huc8", "name", "area_km2", "geometry"]


def test_appalachian_crs_is_declared_not_guessed(appalachian: Watersheds) -> None:
    assert appalachian.frame.crs == pyproj.CRS(LAKE_CRS)
    assert appalachian.frame.crs.to_epsg() == 4326
    # the file has no crs member: RFC 7946 says CRS84, and the report says that is what was used
    assert appalachian.report.source_crs == "OGC:CRS84"
    assert appalachian.report.counts() == {
        "features_read": 118,
        "invalid_repaired": 0,
        "dropped": 0,
        "duplicate_codes": 0,
        "zero_padded_codes": 0,
        "names_missing": 0,
    }


def test_appalachian_names_and_areas_come_from_the_files(
    appalachian: Watersheds, source_data: Path
) -> None:
    names = pd.read_csv(source_data / "watersheds_appalachian/PMAS_HUC8_names.csv", dtype=str)
    frame = appalachian.frame.set_index("huc8")
    assert frame.loc["02050104", "name"] == "Tioga"
    assert frame.loc["05010009", "name"] == "Lower Allegheny"
    assert frame["name"].to_dict() == dict(zip(names["HUC_8"], names["NAME"], strict=True))
    assert frame.loc["02050104", "area_km2"] == pytest.approx(3585.13004268)


def test_navarro_shapefiles_in_nad83_are_reprojected_with_a_configurable_code_column(
    navarro_huc12: Watersheds, source_data: Path
) -> None:
    raw = gpd.read_file(source_data / "watersheds_navarro/WBDHU12_Navarro+Adjacent.shp")
    assert raw.crs.to_epsg() == 4269
    assert navarro_huc12.report.source_crs == "EPSG:4269"
    assert navarro_huc12.frame.crs.to_epsg() == 4326
    assert navarro_huc12.frame["huc8"].tolist() == sorted(raw["HUC12"])
    assert (navarro_huc12.frame["huc8"].str.len() == 12).all()
    assert navarro_huc12.frame["name"].notna().all()

    huc8_path = source_data / "watersheds_navarro/WBDHU8_Big-Navarro-Garcia.shp"
    huc8 = load_watersheds(huc8_path)
    assert huc8.frame["huc8"].tolist() == ["18010108"]  # column "HUC8" found by default
    # AREASQKM is a text field in this DBF: "4150.54"
    assert huc8.frame["area_km2"].iloc[0] == float(gpd.read_file(huc8_path)["AREASQKM"].iloc[0])


def _feature(code: object, geometry: dict | None, **props: object) -> dict:
    return {"type": "Feature", "properties": {"HUC_8": code, **props}, "geometry": geometry}


def _square(x0: float, y0: float, size: float = 1.0) -> dict:
    ring = [[x0, y0], [x0 + size, y0], [x0 + size, y0 + size], [x0, y0 + size], [x0, y0]]
    return {"type": "Polygon", "coordinates": [ring]}


def test_repairs_are_made_and_reported(tmp_path: Path) -> None:
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]]}
    features = [
        _feature("01000001", _square(-80, 40)),
        _feature("01000002", bowtie),  # self-intersecting: repaired into two triangles
        _feature("01000003", None),  # null geometry
        _feature("01000004", {"type": "Polygon", "coordinates": []}),  # empty
        _feature("01000005", {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}),
        _feature("1000006", _square(-70, 40)),  # a 7-digit string: not a code
        _feature("01000007", _square(-79, 40)),  # duplicate code, two pieces
        _feature("01000007", _square(-78, 40)),
    ]
    path = tmp_path / "units.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))

    loaded = load_watersheds(path)
    frame = loaded.frame.set_index("huc8")
    report = loaded.report

    assert list(frame.index) == ["01000001", "01000002", "01000007"]
    assert frame.loc["01000002"].geometry.geom_type == "MultiPolygon"
    assert frame.loc["01000002"].geometry.area == pytest.approx(2.0)  # two triangles of 1
    assert frame.loc["01000007"].geometry.area == pytest.approx(2.0)  # two unit squares merged
    assert shapely.is_valid(loaded.frame.geometry.values).all()
    assert list(report.repaired_invalid) == ["01000002"]
    assert "Self-intersection" in report.repaired_invalid["01000002"]
    assert {(d.code, d.reason) for d in report.dropped} == {
        ("01000003", "null geometry"),
        ("01000004", "empty geometry"),
        ("01000005", "not polygonal (LineString)"),
        ("1000006", "code '1000006' is not 8 digits"),
    }
    assert report.duplicate_codes == {"01000007": 2}
    # geodesic area of two 1°x1° cells at 40°N: about 2 * 9,480 km²
    assert frame.loc["01000007", "area_km2"] == pytest.approx(2 * 9480, rel=0.01)
    assert report.names_missing == ("01000001", "01000002", "01000007")
    assert report.counts()["features_read"] == 8


def test_numeric_codes_get_their_leading_zeros_back(tmp_path: Path) -> None:
    path = tmp_path / "numeric.geojson"
    features = [_feature(2050104, _square(-77, 41)), _feature(5010009, _square(-80, 40))]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    loaded = load_watersheds(path)
    assert loaded.frame["huc8"].tolist() == ["02050104", "05010009"]
    assert loaded.report.zero_padded_codes == 2


def test_a_legacy_geojson_crs_member_is_honoured(tmp_path: Path) -> None:
    path = tmp_path / "nad83.geojson"
    doc = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4269"}},
        "features": [_feature("05010009", _square(-80, 40))],
    }
    path.write_text(json.dumps(doc))
    loaded = load_watersheds(path)
    assert loaded.report.source_crs == "urn:ogc:def:crs:EPSG::4269"
    # NAD83 -> WGS 84 is the null transformation: same coordinates, lon/lat order kept
    assert loaded.frame.geometry.iloc[0].bounds == (-80.0, 40.0, -79.0, 41.0)


def test_unusable_inputs_fail_with_the_figures(tmp_path: Path) -> None:
    nothing_usable = _write(tmp_path / "none.geojson", [_feature("1", None)])
    with pytest.raises(ValueError, match="none of 1 features is usable"):
        load_watersheds(nothing_usable)
    no_code = _write(
        tmp_path / "nocode.geojson",
        [{"type": "Feature", "properties": {"X": 1}, "geometry": _square(0, 0)}],
    )
    with pytest.raises(ValueError, match=r"no code column among \['HUC_8'"):
        load_watersheds(no_code)
    with pytest.raises(FileNotFoundError):
        load_watersheds(tmp_path / "missing.geojson")


def _write(path: Path, features: list[dict]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path
