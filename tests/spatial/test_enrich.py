"""Enrichment: every reading is either enriched or quarantined with the right reason."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_defs.reading import QUARANTINE_SCHEMA, READING_SCHEMA
from pipeline_defs.spatial.crs import LAKE_CRS
from pipeline_defs.spatial.enrich import enrich_readings
from pipeline_defs.spatial.join import Located, WatershedIndex
from pipeline_defs.spatial.watersheds import Watersheds


def readings(rows: list[tuple[float | None, float | None, float | None, str]]) -> pa.Table:
    """A READING_SCHEMA table from (lon, lat, value, crs) tuples; sensor s<i>, one hour apart."""
    n = len(rows)
    return pa.table(
        {
            "sensor_id": [f"s{i}" for i in range(n)],
            "parameter": ["pm25"] * n,
            "value": [r[2] for r in rows],
            "unit": ["ug/m3"] * n,
            "event_time": pd.date_range("2021-06-01", periods=n, freq="h", tz="UTC"),
            "longitude": [r[0] for r in rows],
            "latitude": [r[1] for r in rows],
            "crs": [r[3] for r in rows],
            "quality": [None] * n,
            "source": ["test:rows"] * n,
        },
        schema=READING_SCHEMA,
    )


def test_invalid_coordinates_are_quarantined_with_their_reason(
    appalachian_index: WatershedIndex,
) -> None:
    table = readings(
        [
            (-79.990293, 40.443367, 12.0, "EPSG:4326"),  # Flag Plaza
            (np.nan, 40.4, 12.0, "EPSG:4326"),
            (-80.0, 95.0, 12.0, "EPSG:4326"),
            (200.0, 40.4, 12.0, "EPSG:4269"),
            (0.0, 0.0, 12.0, "EPSG:4326"),
            (None, None, 12.0, "EPSG:4326"),
            (-80.0, 40.4, np.nan, "EPSG:4326"),
            (-80.0, 40.4, -np.inf, "EPSG:4326"),
            (-80.0, 40.4, None, "EPSG:4326"),
            (-80.0, 40.4, 12.0, "EPSG:999999"),
            (-80.0, 40.4, 12.0, "EPSG:32617"),
            (-90.0, 30.0, 12.0, "EPSG:4267"),  # valid, outside every watershed
        ]
    )
    result = enrich_readings(table, appalachian_index)
    quarantine = result.quarantine.to_pandas().set_index("sensor_id")

    assert len(result.enriched) + result.quarantine.num_rows == table.num_rows
    assert result.enriched["sensor_id"].tolist() == ["s0", "s11"]
    assert result.enriched["huc8"].tolist() == ["05010009", None]
    assert quarantine["reason"].to_dict() == {
        "s1": "bad_coordinates",
        "s2": "bad_coordinates",
        "s3": "bad_coordinates",
        "s4": "null_island",
        "s5": "bad_coordinates",
        "s6": "non_finite_value",
        "s7": "non_finite_value",
        "s8": "non_finite_value",
        "s9": "unknown_crs",
        "s10": "unknown_crs",
    }
    assert (
        quarantine.loc["s2", "detail"]
        == "longitude=-80.0 latitude=95.0 (EPSG:4326): |latitude| > 90"
    )
    assert quarantine.loc["s3", "detail"].endswith("|longitude| > 180")
    assert quarantine.loc["s3", "raw"] == "200.0,40.4"
    assert quarantine.loc["s1", "detail"].endswith("not finite")
    assert quarantine.loc["s7", "detail"] == "value=-inf"
    assert "EPSG:999999" in quarantine.loc["s9", "detail"]
    assert "not geographic" in quarantine.loc["s10", "detail"]
    assert set(quarantine["stage"]) == {"enrich"}
    assert set(quarantine["source"]) == {"test:rows"}
    assert result.quarantine.schema.equals(QUARANTINE_SCHEMA)
    assert result.reason_counts() == {
        "bad_coordinates": 4,
        "null_island": 1,
        "non_finite_value": 3,
        "unknown_crs": 2,
    }
    # event time travels with the quarantined reading
    assert quarantine.loc["s4", "event_time"] == pd.Timestamp("2021-06-01 04:00", tz="UTC")


def test_enriched_frame_keeps_the_reading_and_adds_watershed_and_point(
    appalachian_index: WatershedIndex,
) -> None:
    result = enrich_readings(
        readings([(-80.0, 40.0, 1.5, "EPSG:4267"), (-79.9611, 40.4656, 2.5, "EPSG:4326")]),
        appalachian_index,
    )
    enriched = result.enriched
    assert list(enriched.columns) == [*READING_SCHEMA.names, "huc8", "geometry"]
    assert enriched.crs.to_epsg() == 4326
    # the source coordinates and CRS are kept; the geometry is in the lake CRS
    assert enriched["longitude"].tolist() == [-80.0, -79.9611]
    assert enriched["crs"].tolist() == ["EPSG:4267", "EPSG:4326"]
    nad27 = enriched.geometry.iloc[0]
    assert nad27.x != -80.0 and abs(nad27.x + 80.0) < 0.001  # NAD27 shift, not an axis swap
    assert (enriched.geometry.iloc[1].x, enriched.geometry.iloc[1].y) == (-79.9611, 40.4656)
    assert enriched["value"].tolist() == [1.5, 2.5]
    assert str(enriched["event_time"].dtype) == "datetime64[us, UTC]"
    assert result.quarantine.num_rows == 0


def test_registered_null_island_sensor_is_enriched(appalachian_index: WatershedIndex) -> None:
    table = readings([(0.0, 0.0, 1.0, "EPSG:4326"), (0.0, 0.0, 1.0, "EPSG:4326")])
    result = enrich_readings(table, appalachian_index, registered_null_island=frozenset({"s1"}))
    assert result.enriched["sensor_id"].tolist() == ["s1"]
    assert result.enriched["huc8"].tolist() == [None]
    assert result.quarantine.column("sensor_id").to_pylist() == ["s0"]


def test_pandas_input_gives_the_same_result(appalachian_index: WatershedIndex) -> None:
    table = readings([(-80.0, 40.4, 1.0, "EPSG:4326"), (0.0, 0.0, 1.0, "EPSG:4326")])
    from_table = enrich_readings(table, appalachian_index)
    from_frame = enrich_readings(table.to_pandas(), appalachian_index)
    assert from_frame.enriched.equals(from_table.enriched)
    assert from_frame.quarantine.equals(from_table.quarantine)


def test_missing_columns_are_named(appalachian_index: WatershedIndex) -> None:
    with pytest.raises(ValueError, match=r"lack READING_SCHEMA columns \['crs'\]"):
        enrich_readings(readings([]).drop_columns(["crs"]), appalachian_index)


def test_empty_batch(appalachian_index: WatershedIndex) -> None:
    result = enrich_readings(readings([]), appalachian_index)
    assert len(result.enriched) == 0 and result.quarantine.num_rows == 0
    assert list(result.enriched.columns) == [*READING_SCHEMA.names, "huc8", "geometry"]
    assert result.enriched.crs.to_epsg() == 4326


def test_a_real_monitor_file_is_enriched_whole(
    appalachian_index: WatershedIndex, source_data: Path
) -> None:
    """Avalon PM2.5 (feed 1): every non-null value, one location, watershed Upper Ohio."""
    folder = source_data / "air_quality_pittsburgh"
    feed = next(f for f in json.loads((folder / "esdr_metadata.json").read_text()) if f["id"] == 1)
    raw = pd.read_csv(folder / "esdr_raw/Feed_1_Avalon_ACHD_PM.csv")
    channel = raw.columns[1]
    values = raw[["EpochTime", channel]].dropna()
    n = len(values)
    table = pa.table(
        {
            "sensor_id": ["esdr:1"] * n,
            "parameter": ["PM25"] * n,
            "value": values[channel].astype(float),
            "unit": ["ug/m3"] * n,
            "event_time": pd.to_datetime(values["EpochTime"], unit="s", utc=True),
            "longitude": [feed["longitude"]] * n,
            "latitude": [feed["latitude"]] * n,
            "crs": ["EPSG:4326"] * n,
            "quality": [None] * n,
            "source": ["esdr:Feed_1_Avalon_ACHD_PM.csv"] * n,
        },
        schema=READING_SCHEMA,
    )
    result = enrich_readings(table, appalachian_index)
    assert n > 40_000
    assert len(result.enriched) == n and result.quarantine.num_rows == 0
    assert set(result.enriched["huc8"]) == {"05030101"}
    assert result.enriched.geometry.iloc[0].equals(result.enriched.geometry.iloc[-1])
    assert result.enriched["value"].sum() == pytest.approx(values[channel].sum())


coordinate = st.one_of(
    st.floats(-200, 200, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, 90.0, -90.0, 180.0, 95.0, np.nan, np.inf]),
)
row = st.tuples(
    coordinate,
    coordinate,
    st.one_of(st.floats(-1e3, 1e3), st.sampled_from([np.nan, np.inf])),
    st.sampled_from(["EPSG:4326", "EPSG:4269", "EPSG:4267", "EPSG:999999"]),
)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(row, max_size=30))
def test_every_reading_is_enriched_or_quarantined_once(
    rows: list[tuple[float, float, float, str]], appalachian: Watersheds
) -> None:
    table = readings(rows)
    result = enrich_readings(table, WatershedIndex(appalachian))
    assert len(result.enriched) + result.quarantine.num_rows == len(rows)
    reasons = dict(
        zip(
            result.quarantine.column("sensor_id").to_pylist(),
            result.quarantine.column("reason").to_pylist(),
            strict=True,
        )
    )
    for i, (lon, lat, value, crs) in enumerate(rows):
        if crs == "EPSG:999999":
            expected = "unknown_crs"
        elif not (np.isfinite(lon) and np.isfinite(lat) and abs(lon) <= 180 and abs(lat) <= 90):
            expected = "bad_coordinates"
        elif lon == 0 and lat == 0:
            expected = "null_island"
        elif not np.isfinite(value):
            expected = "non_finite_value"
        else:
            expected = None
        assert reasons.get(f"s{i}") == expected, (rows[i], reasons.get(f"s{i}"))
    assert result.enriched.crs == LAKE_CRS


def test_points_proj_cannot_transform_are_quarantined(appalachian: Watersheds) -> None:
    class NoTransform(WatershedIndex):
        def locate(self, lon: np.ndarray, lat: np.ndarray, crs: str | np.ndarray) -> Located:
            located = super().locate(lon, lat, crs)
            located.x[0] = np.inf  # what PROJ returns for a point it cannot transform
            return located

    table = readings([(-80.0, 40.4, 1.0, "EPSG:4267"), (-80.0, 40.4, 2.0, "EPSG:4326")])
    result = enrich_readings(table, NoTransform(appalachian))
    assert result.enriched["sensor_id"].tolist() == ["s1"]
    assert result.quarantine.column("reason").to_pylist() == ["bad_coordinates"]
    assert result.quarantine.column("detail").to_pylist() == [
        "PROJ could not transform -80.0,40.4 from EPSG:4267 to EPSG:4326"
    ]
