"""GeoParquet output: valid 1.1 metadata, readable by geopandas and DuckDB, written atomically;
and the reader side on the official conformance files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pyproj
import pytest
import shapely

from pipeline_defs.spatial import geoparquet
from pipeline_defs.spatial.crs import LAKE_CRS
from pipeline_defs.spatial.geoparquet import write_geoparquet


def points_frame(n: int, seed: int = 3) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-88.8, -75.4, n)
    y = rng.uniform(32.3, 42.8, n)
    return gpd.GeoDataFrame(
        {
            "sensor_id": [f"s{i % 50}" for i in range(n)],
            "value": rng.normal(size=n),
            "event_time": pd.date_range("2022-01-01", periods=n, freq="min", tz="UTC"),
            "huc8": pd.Series(["05010009", None] * (n // 2) + ["05020005"] * (n % 2), dtype=object),
        },
        geometry=shapely.points(x, y),
        crs=LAKE_CRS,
    )


def duck(query: str) -> tuple:
    """The single result row of a DuckDB query."""
    with duckdb.connect() as con:
        return con.execute(query).fetchone()


def geo_metadata(path: Path) -> dict:
    return json.loads(pq.read_metadata(path).metadata[b"geo"])


def check_geo_metadata(geo: dict, schema_path: Path) -> None:
    """Validate against the GeoParquet 1.1 JSON schema when jsonschema is installed; check the
    required keys by hand always."""
    schema = json.loads(schema_path.read_text())
    try:
        import jsonschema
        from referencing import Registry, Resource
    except ImportError:  # not a dependency yet; the hand checks below still run
        jsonschema = None
    if jsonschema is not None:
        projjson = Path(pyproj.datadir.get_data_dir()) / "projjson.schema.json"
        registry = Registry().with_resource(
            "https://proj.org/schemas/v0.7/projjson.schema.json",
            Resource.from_contents(json.loads(projjson.read_text())),
        )
        jsonschema.Draft7Validator(schema, registry=registry).validate(geo)

    assert set(schema["required"]) <= set(geo)
    assert geo["version"] == schema["properties"]["version"]["const"] == "1.1.0"
    assert geo["primary_column"] in geo["columns"]
    column_schema = schema["properties"]["columns"]["patternProperties"][".+"]
    for column in geo["columns"].values():
        assert set(column_schema["required"]) <= set(column)
        assert re.fullmatch(column_schema["properties"]["encoding"]["pattern"], column["encoding"])
        item = column_schema["properties"]["geometry_types"]["items"]["pattern"]
        assert all(re.fullmatch(item, t) for t in column["geometry_types"])
        covering = column["covering"]["bbox"]
        assert {k: v[1] for k, v in covering.items()} == {
            "xmin": "xmin",
            "ymin": "ymin",
            "xmax": "xmax",
            "ymax": "ymax",
        }
        if "bbox" in column:
            assert len(column["bbox"]) == 4


def test_written_file_is_geoparquet_1_1_and_reads_back(tmp_path: Path, source_data: Path) -> None:
    frame = points_frame(1_000)
    path = tmp_path / "lake" / "enriched.parquet"
    size = write_geoparquet(frame, path)
    assert size == path.stat().st_size > 0

    geo = geo_metadata(path)
    check_geo_metadata(geo, source_data / "geoparquet_conformance/schema.json")
    column = geo["columns"]["geometry"]
    assert column["encoding"] == "WKB"
    assert column["geometry_types"] == ["Point"]
    assert pyproj.CRS.from_json_dict(column["crs"]) == pyproj.CRS(LAKE_CRS)
    assert column["crs"]["type"] == "GeographicCRS"  # PROJJSON, not a string
    np.testing.assert_allclose(column["bbox"], frame.total_bounds)

    back = gpd.read_parquet(path)
    assert back.crs == pyproj.CRS(LAKE_CRS)
    assert back.geometry.equals(frame.geometry)
    # None comes back as a missing string (pandas' str dtype shows it as NaN)
    assert back["huc8"].fillna("<none>").tolist() == frame["huc8"].fillna("<none>").tolist()
    assert back["huc8"].isna().sum() == 500
    assert back["event_time"].tolist() == frame["event_time"].tolist()

    # the covering column holds each row's bounds
    bbox = pq.read_table(path, columns=["bbox"]).column("bbox").to_pandas()
    np.testing.assert_array_equal(
        np.array([[b["xmin"], b["ymin"], b["xmax"], b["ymax"]] for b in bbox]),
        shapely.bounds(np.asarray(frame.geometry.values)),
    )
    file_meta = pq.ParquetFile(path).metadata
    assert file_meta.row_group(0).column(0).compression == "ZSTD"

    count, inside = duck(
        f"SELECT count(*), count(*) FILTER (WHERE huc8 = '05010009') FROM read_parquet('{path}')"
    )
    assert (count, inside) == (1_000, 500)
    # readers can filter on the covering column without decoding geometry
    (west,) = duck(f"SELECT count(*) FROM read_parquet('{path}') WHERE bbox.xmax < -82")
    assert west == int((frame.geometry.x < -82).sum())


def test_row_groups_hold_100k_rows(tmp_path: Path) -> None:
    path = tmp_path / "big.parquet"
    write_geoparquet(points_frame(geoparquet.ROW_GROUP_ROWS * 2 + 7), path)
    meta = pq.ParquetFile(path).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [
        100_000,
        100_000,
        7,
    ]


def test_empty_frame_writes_a_valid_file(tmp_path: Path, source_data: Path) -> None:
    path = tmp_path / "empty.parquet"
    write_geoparquet(points_frame(0), path)
    geo = geo_metadata(path)
    check_geo_metadata(geo, source_data / "geoparquet_conformance/schema.json")
    back = gpd.read_parquet(path)
    assert len(back) == 0 and back.crs == pyproj.CRS(LAKE_CRS)
    assert list(back.columns) == ["sensor_id", "value", "event_time", "huc8", "geometry"]
    assert duck(f"SELECT count(*) FROM read_parquet('{path}')") == (0,)


def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "out.parquet"
    write_geoparquet(points_frame(10, seed=1), path)
    before = path.read_bytes()

    def crash(self: gpd.GeoDataFrame, tmp: Path, **kwargs: object) -> None:
        Path(tmp).write_bytes(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(gpd.GeoDataFrame, "to_parquet", crash)
    with pytest.raises(OSError, match="disk full"):
        write_geoparquet(points_frame(10, seed=2), path)
    assert path.read_bytes() == before  # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.parquet"]  # no temp left behind

    monkeypatch.undo()
    write_geoparquet(points_frame(20, seed=2), path)  # replaces the old file
    assert len(gpd.read_parquet(path)) == 20
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.parquet"]


def test_a_frame_without_crs_is_refused(tmp_path: Path) -> None:
    frame = points_frame(3).set_crs(None, allow_override=True)
    with pytest.raises(ValueError, match="no CRS"):
        write_geoparquet(frame, tmp_path / "x.parquet")
    assert not (tmp_path / "x.parquet").exists()


@pytest.mark.parametrize("kind", ["point", "polygon"])
@pytest.mark.parametrize("encoding", ["wkb", "native"])
def test_reader_handles_conformance_files_with_empty_and_null_rows(
    source_data: Path, kind: str, encoding: str
) -> None:
    folder = source_data / "geoparquet_conformance"
    frame = gpd.read_parquet(folder / f"data-{kind}-encoding_{encoding}.parquet")
    expected = pd.read_csv(folder / f"data-{kind}-wkt.csv")
    assert frame["col"].tolist() == expected["col"].tolist()
    assert frame.crs == pyproj.CRS("OGC:CRS84")
    for geom, wkt in zip(frame.geometry, expected["geometry"], strict=True):
        if pd.isna(wkt):
            assert geom is None  # NULL row
        else:
            assert geom.equals(shapely.from_wkt(wkt)) or (geom.is_empty and "EMPTY" in wkt)
    assert frame.geometry.isna().sum() == 1
    assert frame.geometry.is_empty.sum() == 1


def test_reader_handles_the_conformance_example(source_data: Path) -> None:
    folder = source_data / "geoparquet_conformance"
    frame = gpd.read_parquet(folder / "example.parquet")
    expected = json.loads((folder / "example_metadata.json").read_text())["geo"]
    # the checker above accepts the reference metadata, and the file carries exactly it
    check_geo_metadata(expected, folder / "schema.json")
    assert geo_metadata(folder / "example.parquet") == expected
    assert len(frame) == 5
    assert frame.crs == pyproj.CRS.from_json_dict(expected["columns"]["geometry"]["crs"])
    assert set(frame.geom_type) <= set(expected["columns"]["geometry"]["geometry_types"])
