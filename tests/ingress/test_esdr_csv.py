"""ESDR CSV reader on the 16 real Pittsburgh exports, and on small damaged files in tmp_path."""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline_defs.ingress.esdr_csv import (
    EsdrFeed,
    canonical_channel,
    column_meaning,
    load_esdr_feeds,
    read_esdr_csv,
)
from pipeline_defs.reading import QUARANTINE_SCHEMA, READING_SCHEMA, ReadResult


@pytest.fixture(scope="module")
def results(esdr_csv_files: list[Path], esdr_feeds) -> dict[str, ReadResult]:
    return {path.name: read_esdr_csv(path, esdr_feeds) for path in esdr_csv_files}


def _readings(results: dict[str, ReadResult], name: str) -> pd.DataFrame:
    return results[name].readings.to_pandas()


def test_values_read_equal_an_independent_count_of_non_empty_cells(
    results: dict[str, ReadResult], esdr_nonempty_cells: dict[str, int]
) -> None:
    assert {name: r.values_read for name, r in results.items()} == esdr_nonempty_cells
    assert sum(esdr_nonempty_cells.values()) == 1_821_335
    for name, result in results.items():
        assert result.readings.schema.equals(READING_SCHEMA), name
        assert result.quarantine.schema.equals(QUARANTINE_SCHEMA), name
        assert result.quarantine.num_rows == 0, name  # the real exports hold no bad cell


def test_feed_metadata(esdr_feeds: dict[int, EsdrFeed]) -> None:
    assert len(esdr_feeds) == 14
    assert esdr_feeds[43] == EsdrFeed(
        id=43,
        name="Parkway East Near Road ACHD",
        latitude=40.43743055555555,
        longitude=-79.86357222222222,
        crs="EPSG:4326",
    )


def test_plain_column_reading(results: dict[str, ReadResult]) -> None:
    frame = _readings(results, "Feed_26_Lawrenceville_ACHD.csv")
    ozone = frame[frame["parameter"] == "o3"]

    # first line: 1477891800,0.026,13.0,4.5,332.0,19.4 ; OZONE_PPM -> ppb
    first = ozone.iloc[0]
    assert first["sensor_id"] == "ESDR-26"
    assert first["event_time"] == pd.Timestamp(1477891800, unit="s", tz="UTC")
    assert first["value"] == 26.0
    assert first["unit"] == "ppb"
    assert (first["longitude"], first["latitude"]) == (-79.960757, 40.46542)
    assert first["crs"] == "EPSG:4326"
    assert pd.isna(first["quality"])
    assert first["source"] == "esdr_csv:Feed_26_Lawrenceville_ACHD.csv"
    assert set(frame["parameter"]) == {
        "o3",
        "pm10",
        "wind_speed",
        "wind_direction",
        "wind_direction_sigma",
    }
    wind = frame[frame["parameter"] == "wind_speed"].iloc[0]
    assert (wind["value"], wind["unit"]) == (4.5, "mph")


def test_merged_feeds_column(results: dict[str, ReadResult]) -> None:
    frame = _readings(results, "Feed_43_and_Feed_11067_Parkway_East_ACHD.csv")
    co = frame[frame["parameter"] == "co"]

    assert set(frame["sensor_id"]) == {"ESDR-11067+43"}
    assert set(frame["quality"]) == {"merged_feeds"}
    locations = frame[["longitude", "latitude"]].drop_duplicates()
    assert locations.to_records(index=False).tolist() == [(-79.863572, 40.43743)]  # feed 11067
    # first line: 1492525800,513.3,... ; CO_PPB as is
    assert (co.iloc[0]["value"], co.iloc[0]["unit"]) == (513.3, "ppb")
    assert co.iloc[0]["event_time"] == pd.Timestamp(1492525800, unit="s", tz="UTC")

    pm = _readings(results, "Feed_26_and_Feed_59665_Lawrenceville_ACHD_PM25.csv")
    assert set(pm["sensor_id"]) == {"ESDR-26+59665"}
    assert set(pm["parameter"]) == {"pm25"} and set(pm["unit"]) == {"ug/m3"}

    same_feed = _readings(results, "Feed_1_Avalon_ACHD_PM.csv")
    assert set(same_feed["sensor_id"]) == {"ESDR-1"}
    assert set(same_feed["quality"]) == {"merged_feeds"}


def test_merged_co_ppm_ppb_column_is_ppm_converted_to_ppb(results: dict[str, ReadResult]) -> None:
    co = _readings(results, "Feed_23_Flag_Plaza_ACHD_CO.csv")

    assert set(co["parameter"]) == {"co"} and set(co["unit"]) == {"ppb"}
    assert co["value"].iloc[0] == 200.0  # 0.2 ppm
    assert co["value"].max() == 2200.0  # 2.2 ppm, the largest value in the file
    assert co["value"].median() == 200.0


def test_airnow_ozone_is_already_ppb(results: dict[str, ReadResult]) -> None:
    airnow = _readings(results, "Feed_3506_BAPC_301_39TH_STREET_BLDG_AirNow.csv")
    achd = _readings(results, "Feed_26_Lawrenceville_ACHD.csv")
    airnow = airnow[airnow.parameter == "o3"].set_index("event_time")["value"]
    achd = achd[achd.parameter == "o3"].set_index("event_time")["value"]
    both = pd.concat([airnow, achd], axis=1, join="inner", keys=["airnow", "achd"])

    assert len(both) > 40_000
    assert (both["airnow"] - both["achd"]).abs().median() == 0.0


def test_gases_in_ppm_become_ppb(results: dict[str, ReadResult]) -> None:
    frame = _readings(results, "Feed_28_Liberty_ACHD.csv")
    so2 = frame[frame["parameter"] == "so2"]

    assert set(so2["unit"]) == {"ppb"}
    assert so2["value"].max() == 171.0  # 0.171 ppm
    assert (so2["value"] == so2["value"].round(6)).all()


def test_out_of_order_rows_are_kept_in_file_order(
    results: dict[str, ReadResult], esdr_csv_files: list[Path]
) -> None:
    unordered = []
    for path in esdr_csv_files:
        epochs = pd.read_csv(path, usecols=["EpochTime"])["EpochTime"]
        if not epochs.is_monotonic_increasing:
            unordered.append(path.name)
    assert len(unordered) == 3
    for name in unordered:
        frame = _readings(results, name)
        first_series = frame[frame["parameter"] == frame["parameter"].iloc[0]]
        assert not first_series["event_time"].is_monotonic_increasing, name
        assert first_series["event_time"].is_unique, name


def test_channel_mapping() -> None:
    assert canonical_channel("PM25B_UG_M3") == ("pm25", "ug/m3", 1.0)
    assert canonical_channel("PM25_640_UG_M3") == ("pm25", "ug/m3", 1.0)
    assert canonical_channel("PM2_5") == ("pm25", "ug/m3", 1.0)
    assert canonical_channel("PM10B_UG_M3") == ("pm10", "ug/m3", 1.0)
    assert canonical_channel("OZONE_PPM") == ("o3", "ppb", 1000.0)
    assert canonical_channel("OZONE") == ("o3", "ppb", 1.0)
    assert canonical_channel("H2S_PPM") == ("h2s", "ppb", 1000.0)
    assert canonical_channel("NOY_PPB") == ("noy", "ppb", 1.0)
    assert canonical_channel("SIGTHETA_DEG") == ("wind_direction_sigma", "deg", 1.0)
    assert canonical_channel("RH_PCT") == ("rh_pct", "unknown", 1.0)


def test_column_meaning_of_unknown_feed_and_odd_names(esdr_feeds) -> None:
    unknown = column_meaning("3.feed_999.PM25_UG_M3", esdr_feeds)
    assert unknown.reject_reason == "unknown_sensor"
    assert "[999]" in unknown.reject_detail and "14 feeds known" in unknown.reject_detail

    half_known = column_meaning("3.feed_26.CO_PPB..3.feed_999.CO_PPB", esdr_feeds)
    assert half_known.reject_reason == "unknown_sensor"

    assert column_meaning("temperature", esdr_feeds).reject_reason == "unknown_sensor"
    mixed = column_meaning("3.feed_26.CO_PPB..3.feed_26.NO_PPB", esdr_feeds)
    assert mixed.reject_reason == "malformed_record"


DAMAGED_CSV = (
    "EpochTime,3.feed_26.OZONE_PPM,3.feed_999.SO2_PPM,3.feed_26.RH_PCT\n"
    "1477891800,0.026,0.001,55\n"  # 2 readings + 1 unknown feed
    "1477895400,oops,,\n"  # 1 unparseable cell
    "garbage row with no commas\n"  # 1 malformed line
    "1477899000,0.030,0.002\n"  # 1 malformed line (3 fields)
    "later,0.031,,\n"  # 1 bad timestamp
    "1477902600,nan,,inf\n"  # 2 non-finite
    "1477906200,,,\n"  # no values at all
    "1477909800, 0.040 ,,60\n"  # 2 readings (blanks around a number are fine)
)


def test_damaged_csv_quarantines_and_never_raises(esdr_feeds, tmp_path: Path) -> None:
    path = tmp_path / "damaged.csv"
    path.write_text(DAMAGED_CSV)

    result = read_esdr_csv(path, esdr_feeds)
    readings = result.readings.to_pandas()
    rejects = result.quarantine.to_pandas()

    assert result.values_read == 3 + 1 + 1 + 1 + 1 + 2 + 2  # line by line
    assert len(readings) == 4
    assert rejects["reason"].value_counts().to_dict() == {
        "malformed_record": 2,
        "non_finite_value": 2,
        "unknown_sensor": 1,
        "unparseable_value": 1,
        "bad_timestamp": 1,
    }
    unparseable = rejects[rejects["reason"] == "unparseable_value"].iloc[0]
    assert unparseable["raw"] == "oops"
    assert unparseable["location"] == "EpochTime=1477895400, column=3.feed_26.OZONE_PPM"
    assert unparseable["event_time"] == pd.Timestamp(1477895400, unit="s", tz="UTC")
    assert unparseable["sensor_id"] == "ESDR-26"
    garbage = rejects[rejects["raw"] == "garbage row with no commas"].iloc[0]
    assert garbage["reason"] == "malformed_record"
    assert garbage["location"] == "line 4"
    bad_time = rejects[rejects["reason"] == "bad_timestamp"].iloc[0]
    assert (bad_time["raw"], pd.isna(bad_time["event_time"])) == ("0.031", True)
    unknown = rejects[rejects["reason"] == "unknown_sensor"].iloc[0]
    assert (unknown["sensor_id"], unknown["raw"]) == ("ESDR-999", "0.001")
    rh = readings[readings["parameter"] == "rh_pct"]
    assert rh["unit"].tolist() == ["unknown", "unknown"]
    assert rh["value"].tolist() == [55.0, 60.0]
    assert readings[readings["parameter"] == "o3"]["value"].tolist() == [26.0, 40.0]


@pytest.mark.parametrize(
    "content",
    ["", "\n", "not,an,esdr,file\n1,2,3,4\n", "EpochTime\n1477891800\n", "\xff\xfe"],
)
def test_unreadable_files_become_one_row(esdr_feeds, tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content.encode("latin-1"))

    result = read_esdr_csv(path, esdr_feeds)

    assert result.readings.num_rows == 0
    assert result.quarantine.column("reason").to_pylist() == ["malformed_record"]


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda line: b"\xff\xfe" + line, "bad_timestamp"),  # a bad byte in the time cell
        (lambda line: line + b"\xff", "unparseable_value"),  # ... in a value cell
        (lambda line: line[:11] + b'"' + line[11:], "unparseable_value"),  # an unbalanced quote
    ],
)
def test_damage_deep_in_a_real_file_costs_only_its_own_cell(
    esdr_csv_files: list[Path], esdr_feeds, tmp_path: Path, damage, reason: str
) -> None:
    original = next(p for p in esdr_csv_files if p.name.startswith("Feed_3508_"))
    lines = original.read_bytes().split(b"\n")
    lines[20_000] = damage(lines[20_000])
    path = tmp_path / original.name
    path.write_bytes(b"\n".join(lines))

    clean = read_esdr_csv(original, esdr_feeds)
    damaged = read_esdr_csv(path, esdr_feeds)

    assert damaged.values_read == clean.values_read
    assert damaged.readings.num_rows == clean.readings.num_rows - 1
    assert damaged.quarantine.column("reason").to_pylist() == [reason]
    assert "1554114600" in damaged.quarantine.column("location")[0].as_py() + str(
        damaged.quarantine.column("raw")[0].as_py()
    )  # the damaged line of the file, 2019-04-01T10:30Z


def test_metadata_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "esdr_metadata.json"
    path.write_text('[{"name": "no id"}]')

    with pytest.raises(ValueError, match="entry 0 has no integer id"):
        load_esdr_feeds(path)


CELL = st.one_of(
    st.just(""),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr),
    st.sampled_from(["x", "--", "1.2.3", "nan", "inf"]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.tuples(st.integers(0, 2_000_000_000), CELL, CELL), max_size=30))
def test_every_non_empty_cell_is_counted_exactly_once(rows, esdr_feeds) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "generated.csv"
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["EpochTime", "3.feed_26.OZONE_PPM", "3.feed_1.PM25B_UG_M3"])
            writer.writerows(rows)
        result = read_esdr_csv(path, esdr_feeds)

    non_empty = sum(1 for row in rows for cell in row[1:] if cell != "")
    numbers = sum(1 for row in rows for cell in row[1:] if cell not in ("", "x", "--", "1.2.3"))
    finite = numbers - sum(1 for row in rows for cell in row[1:] if cell in ("nan", "inf"))
    assert result.values_read == non_empty
    assert result.readings.num_rows == finite
