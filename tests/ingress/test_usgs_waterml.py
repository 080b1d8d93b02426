"""WaterML-JSON reader on the real USGS responses, and on damaged copies written to tmp_path."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from pipeline_defs.ingress.usgs_waterml import parameter_name, read_waterml_json
from pipeline_defs.reading import QUARANTINE_SCHEMA, READING_SCHEMA


def _utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_convert("UTC")


@pytest.fixture(scope="module")
def usgs_iv(source_data: Path) -> Path:
    return source_data / "usgs_iv"


def test_every_value_entry_is_read_once(usgs_files: list[Path], waterml_value_entries) -> None:
    for path in usgs_files:
        result = read_waterml_json(path)
        assert result.readings.schema.equals(READING_SCHEMA), path.name
        assert result.quarantine.schema.equals(QUARANTINE_SCHEMA), path.name
        assert result.values_read == waterml_value_entries[path.name], path.name


def test_json15min2day_is_192_discharge_readings_with_exact_ends(usgs_iv: Path) -> None:
    result = read_waterml_json(usgs_iv / "JSON15min2day.json")
    frame = result.readings.to_pandas()

    assert len(frame) == 192
    assert result.quarantine.num_rows == 0
    assert set(frame["sensor_id"]) == {"USGS-03213700"}
    assert set(frame["parameter"]) == {"discharge"}
    assert set(frame["unit"]) == {"ft3/s"}
    assert set(frame["crs"]) == {"EPSG:4326"}
    assert set(frame["quality"]) == {"A"}
    assert set(frame["source"]) == {"usgs_iv:JSON15min2day.json"}
    assert frame["latitude"].iloc[0] == 37.67315699
    assert frame["longitude"].iloc[0] == -82.2801408
    # 2016-09-01T00:00:00.000-04:00 -> 04:00Z, 2016-09-02T23:45:00.000-04:00 -> 09-03 03:45Z
    assert frame["event_time"].iloc[0] == pd.Timestamp("2016-09-01T04:00:00Z")
    assert frame["value"].iloc[0] == 366.0
    assert frame["event_time"].iloc[-1] == pd.Timestamp("2016-09-03T03:45:00Z")
    assert frame["value"].iloc[-1] == 276.0


def test_spring_forward_keeps_a_constant_15_minute_step_in_utc(usgs_iv: Path) -> None:
    times = read_waterml_json(usgs_iv / "startDST.json").readings.column("event_time")
    times = pd.Series(times.to_pandas())

    assert len(times) == 284
    assert set(times.diff().dropna()) == {pd.Timedelta(minutes=15)}
    # 01:45 EST is followed by 03:00 EDT: consecutive instants in UTC.
    assert _utc("2018-03-11T01:45:00-05:00") in set(times)
    assert _utc("2018-03-11T03:00:00-04:00") in set(times)
    assert times.iloc[0] == pd.Timestamp("2018-03-10T05:00:00Z")
    assert times.iloc[-1] == pd.Timestamp("2018-03-13T03:45:00Z")


def test_fall_back_repeated_local_hour_maps_to_distinct_utc_instants(usgs_iv: Path) -> None:
    times = read_waterml_json(usgs_iv / "endDST.json").readings.column("event_time")
    times = pd.Series(times.to_pandas())

    assert len(times) == 292  # 73 hours of 15-minute values: the day has 25 hours
    assert times.is_unique
    assert set(times.diff().dropna()) == {pd.Timedelta(minutes=15)}
    # local 01:00 occurs twice: EDT (05:00Z) and EST (06:00Z)
    assert {_utc("2018-11-04T01:00:00-04:00"), _utc("2018-11-04T01:00:00-05:00")} <= set(times)


def test_no_data_values_are_quarantined_never_read(usgs_iv: Path) -> None:
    result = read_waterml_json(usgs_iv / "mult_flags.json")
    readings = result.readings.to_pandas()
    rejects = result.quarantine.to_pandas()

    assert result.values_read == 438
    assert len(readings) == 399
    assert (readings["value"] != -999999.0).all()
    assert len(rejects) == 39
    assert set(rejects["reason"]) == {"no_data_value"}
    assert set(rejects["stage"]) == {"ingress"}
    assert set(rejects["raw"]) == {"-999999"}
    assert rejects["event_time"].notna().all()
    assert rejects["detail"].str.contains("-999999").all()
    assert rejects["detail"].str.contains("qualifiers P|Ice", regex=False).all()
    assert rejects["event_time"].iloc[-1] == pd.Timestamp("2019-01-29T04:45:00Z")


def test_qualifiers_are_joined_with_a_bar(usgs_iv: Path) -> None:
    readings = read_waterml_json(usgs_iv / "mult_flags.json").readings.to_pandas()

    assert readings["quality"].value_counts().to_dict() == {"P": 392, "P|e": 7}


def test_empty_response_gives_nothing(usgs_iv: Path) -> None:
    result = read_waterml_json(usgs_iv / "nothing_avail.json")

    assert (result.values_read, result.readings.num_rows, result.quarantine.num_rows) == (0, 0, 0)


def test_two_sites_two_parameters(usgs_iv: Path) -> None:
    frame = read_waterml_json(usgs_iv / "two_sites_two_params_iv.json").readings.to_pandas()
    counts = frame.groupby(["sensor_id", "parameter", "unit"]).size().to_dict()

    assert counts == {
        ("USGS-01541000", "discharge", "ft3/s"): 93,
        ("USGS-01541000", "gage_height", "ft"): 93,
        ("USGS-01541200", "discharge", "ft3/s"): 93,
        ("USGS-01541200", "gage_height", "ft"): 93,
    }


def test_every_method_block_is_read(usgs_iv: Path) -> None:
    frame = read_waterml_json(usgs_iv / "diff_freq.json").readings.to_pandas()
    counts = frame.groupby(["sensor_id", "parameter"]).size().to_dict()

    # 01570500 temperature and conductance come from the second (WALNUT ST PIER) method block;
    # its discharge is at 30-minute cadence beside 15-minute series.
    assert counts == {
        ("USGS-01541000", "discharge"): 96,
        ("USGS-01541000", "gage_height"): 96,
        ("USGS-01570500", "discharge"): 48,
        ("USGS-01570500", "gage_height"): 48,
        ("USGS-01570500", "specific_conductance"): 96,
        ("USGS-01570500", "water_temperature"): 96,
    }
    discharge = frame[(frame.sensor_id == "USGS-01570500") & (frame.parameter == "discharge")]
    assert set(discharge["event_time"].diff().dropna()) == {pd.Timedelta(minutes=30)}


def test_daily_values_without_offset_use_the_site_time_zone(usgs_iv: Path) -> None:
    frame = read_waterml_json(usgs_iv / "daily_lake_level.json").readings.to_pandas()

    # Lake Sherburne, MT observes MST/MDT: 2021-06-27T00:00 local (MDT, -06:00) is 06:00Z.
    assert frame["event_time"].tolist() == [
        pd.Timestamp("2021-06-27T06:00:00Z"),
        pd.Timestamp("2021-06-28T06:00:00Z"),
        pd.Timestamp("2021-06-29T06:00:00Z"),
    ]
    assert frame["value"].tolist() == [4783.27, 4783.70, 4784.13]
    assert set(frame["parameter"]) == {"lake_elevation_ngvd29_at_2400"}
    assert set(frame["unit"]) == {"ft"}
    assert set(frame["sensor_id"]) == {"USGS-05015500"}


def test_waterml_in_a_txt_file(source_data: Path) -> None:
    frame = read_waterml_json(source_data / "usgs_sites" / "waterservices_iv.txt").readings
    frame = frame.to_pandas()

    assert frame.groupby("sensor_id").size().to_dict() == {"USGS-01491000": 10, "USGS-01645000": 10}
    five_minute = frame[(frame.sensor_id == "USGS-01645000") & (frame.parameter == "discharge")]
    assert five_minute["event_time"].iloc[0] == pd.Timestamp("2019-02-14T05:00:00Z")
    assert five_minute["event_time"].iloc[1] == pd.Timestamp("2019-02-14T05:05:00Z")


def test_parameter_names() -> None:
    assert parameter_name("00060") == "discharge"
    assert parameter_name("00065") == "gage_height"
    assert parameter_name("62614") == "lake_elevation_ngvd29"
    assert parameter_name("00062") == "reservoir_elevation"
    assert parameter_name("99999") == "usgs_99999"
    assert parameter_name("00060", "00003") == "discharge_mean"
    assert parameter_name("00060", "12345") == "discharge_stat12345"


def test_truncated_file_is_one_quarantine_row(usgs_iv: Path, tmp_path: Path) -> None:
    text = (usgs_iv / "JSON15min2day.json").read_text()
    damaged = tmp_path / "truncated.json"
    damaged.write_text(text[: len(text) // 2])

    result = read_waterml_json(damaged)

    assert result.readings.num_rows == 0
    assert result.values_read == 1
    row = result.quarantine.to_pylist()[0]
    assert row["reason"] == "malformed_record"
    assert row["stage"] == "ingress"
    assert row["source"] == "usgs_iv:truncated.json"
    assert "not valid JSON" in row["detail"]
    assert f"{len(text) // 2:,} characters" in row["detail"]
    assert row["raw"] and row["raw"] in text


def test_json_that_is_not_waterml_is_one_quarantine_row(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": []}))

    result = read_waterml_json(path)

    assert result.readings.num_rows == 0
    assert result.quarantine.column("reason").to_pylist() == ["malformed_record"]


def _damaged_copy(usgs_iv: Path, tmp_path: Path) -> Path:
    """JSON15min2day with bad values 0..4 and a second series whose metadata is broken."""
    document = json.loads((usgs_iv / "JSON15min2day.json").read_text())
    series = document["value"]["timeSeries"][0]
    values = series["values"][0]["value"]
    values[0]["value"] = "abc"
    values[1]["value"] = "NaN"
    values[2]["dateTime"] = "yesterday"
    values[3]["value"] = "-999999.00"
    values[4] = "not an object"
    broken = copy.deepcopy(series)
    del broken["sourceInfo"]["siteCode"]
    broken["values"][0]["value"] = broken["values"][0]["value"][:10]
    document["value"]["timeSeries"].append(broken)
    path = tmp_path / "damaged.json"
    path.write_text(json.dumps(document))
    return path


def test_bad_values_are_quarantined_with_reasons(usgs_iv: Path, tmp_path: Path) -> None:
    result = read_waterml_json(_damaged_copy(usgs_iv, tmp_path))
    rejects = result.quarantine.to_pandas()

    assert result.values_read == 192 + 10
    assert result.readings.num_rows == 187
    assert rejects["reason"].value_counts().to_dict() == {
        "malformed_record": 11,
        "unparseable_value": 1,
        "non_finite_value": 1,
        "bad_timestamp": 1,
        "no_data_value": 1,
    }
    by_reason = rejects.drop_duplicates("reason").set_index("reason")
    assert by_reason.loc["unparseable_value", "raw"] == "abc"
    assert by_reason.loc["unparseable_value", "location"].endswith("values[0][0]")
    assert by_reason.loc["non_finite_value", "raw"] == "NaN"
    assert by_reason.loc["no_data_value", "raw"] == "-999999.00"
    assert pd.isna(by_reason.loc["bad_timestamp", "event_time"])
    broken = rejects[rejects["detail"].str.contains("metadata unreadable")]
    assert len(broken) == 10
    assert broken["detail"].str.contains("siteCode").all()


def test_offsetless_time_without_zone_info_is_a_bad_timestamp(
    usgs_iv: Path, tmp_path: Path
) -> None:
    document = json.loads((usgs_iv / "daily_lake_level.json").read_text())
    for series in document["value"]["timeSeries"]:
        del series["sourceInfo"]["timeZoneInfo"]
    path = tmp_path / "no_zone.json"
    path.write_text(json.dumps(document))

    result = read_waterml_json(path)

    assert result.readings.num_rows == 0
    assert result.quarantine.column("reason").to_pylist() == ["bad_timestamp"] * 3
    assert "no timeZoneInfo" in result.quarantine.column("detail")[0].as_py()


@pytest.mark.parametrize(
    ("zone_info", "why"),
    [
        ("EST", "timeZoneInfo is a str"),
        ({"defaultTimeZone": "EST"}, "defaultTimeZone is 'EST', not an object"),
        (
            {
                "defaultTimeZone": {"zoneAbbreviation": ["EST"]},
                "daylightSavingsTimeZone": {"zoneAbbreviation": "EDT"},
                "siteUsesDaylightSavingsTime": True,
            },
            "unknown zone",
        ),
    ],
)
def test_malformed_zone_info_quarantines_the_offsetless_times_only(
    usgs_iv: Path, tmp_path: Path, zone_info: object, why: str
) -> None:
    document = json.loads((usgs_iv / "daily_lake_level.json").read_text())
    for series in document["value"]["timeSeries"]:
        series["sourceInfo"]["timeZoneInfo"] = zone_info
    path = tmp_path / "bad_zone.json"
    path.write_text(json.dumps(document))

    result = read_waterml_json(path)  # never raises

    assert result.values_read == 3 and result.readings.num_rows == 0
    assert result.quarantine.column("reason").to_pylist() == ["bad_timestamp"] * 3
    assert why in result.quarantine.column("detail")[0].as_py()


def test_a_reader_failure_rejects_its_file_and_names_the_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline_defs.ingress import sources

    path = tmp_path / "ok.json"
    path.write_text('{"value": {"timeSeries": []}}')

    def broken_reader(_path: Path):
        raise RuntimeError("boom")

    monkeypatch.setattr(sources, "read_waterml_json", broken_reader)
    result = sources.read_source(
        path, partition_start=datetime(2000, 1, 1, tzinfo=UTC), max_future_skew=timedelta(0)
    )
    assert result.values_read == 1
    (detail,) = result.quarantine.column("detail").to_pylist()
    assert "the reader failed (RuntimeError: boom)" in detail


def test_reading_times_are_utc_instants(usgs_iv: Path) -> None:
    readings = read_waterml_json(usgs_iv / "startDST.json").readings
    first = readings.column("event_time")[0].as_py()

    assert first == datetime(2018, 3, 10, 5, tzinfo=UTC)
    assert first.utcoffset() == timedelta(0)
