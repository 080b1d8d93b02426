"""compute_month against an independent DuckDB SQL computation over real Pittsburgh readings.

Every hourly and sliding window of whole months must match: same rows (exact keys and counts),
means/min/max within a tight tolerance. DuckDB works on integer hour numbers
(``epoch_us // 3_600_000_000``) and builds sliding windows by a range join of window starts onto
hourly means, so it shares no code and no technique with ``aggregates.py``.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from pipeline_defs.windows.aggregates import compute_month

US_PER_HOUR = 3_600_000_000
NOW = pd.Timestamp("2030-01-01T00:00Z")

HOURLY_SQL = """
SELECT huc8, parameter, unit,
       epoch_us(event_time) // 3600000000 AS hour,
       avg(value) AS mean, min(value) AS min, max(value) AS max,
       count(*) AS count, count(DISTINCT sensor_id) AS sensor_count
FROM readings
WHERE huc8 IS NOT NULL
  AND epoch_us(event_time) >= $first_hour * 3600000000
  AND epoch_us(event_time) < $end_hour * 3600000000
GROUP BY ALL
"""

SLIDING_SQL = f"""
WITH hourly AS ({HOURLY_SQL}),
starts AS (SELECT range AS start_hour FROM range($month_first_hour, $month_end_hour)),
lengths AS (SELECT unnest([8, 24]) AS window_hours)
SELECT h.huc8, h.parameter, h.unit, l.window_hours, s.start_hour AS hour,
       avg(h.mean) AS mean, count(*) AS hours_present,
       count(*) * 4 >= l.window_hours * 3 AS complete
FROM hourly h, lengths l, starts s
WHERE h.hour >= s.start_hour AND h.hour < s.start_hour + l.window_hours
GROUP BY h.huc8, h.parameter, h.unit, l.window_hours, s.start_hour
"""


def hour_number(times: pd.Series) -> np.ndarray:
    return (times - pd.Timestamp("1970-01-01T00:00Z")) // pd.Timedelta(hours=1)


def duckdb_month(readings: pd.DataFrame, key: str) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    start = pd.Timestamp(key, tz="UTC")
    end = start + pd.DateOffset(months=1)
    first, last = int(hour_number(pd.Series([start]))[0]), int(hour_number(pd.Series([end]))[0])
    con = duckdb.connect()
    con.register("readings", readings)
    hourly = con.execute(HOURLY_SQL, {"first_hour": first, "end_hour": last}).df()
    sliding = con.execute(
        SLIDING_SQL,
        {
            "first_hour": first,
            "end_hour": last + 23,
            "month_first_hour": first,
            "month_end_hour": last,
        },
    ).df()
    counts = con.execute(
        """SELECT count(huc8) AS used, count(*) - count(huc8) AS without
           FROM readings WHERE epoch_us(event_time) >= $a AND epoch_us(event_time) < $b""",
        {"a": first * US_PER_HOUR, "b": last * US_PER_HOUR},
    ).fetchone()
    return hourly, sliding, {"used": counts[0], "without": counts[1]}


def matched(ours: pd.DataFrame, theirs: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Outer-join on ``keys``; fail naming the windows only one side has."""
    ours = ours.assign(**{k: ours[k].astype(object) for k in keys})
    theirs = theirs.assign(**{k: theirs[k].astype(object) for k in keys})
    both = ours.merge(theirs, on=keys, how="outer", suffixes=("", "_sql"), indicator=True)
    lonely = both[both["_merge"] != "both"]
    assert lonely.empty, f"{len(lonely)} windows on one side only:\n{lonely[keys + ['_merge']]}"
    return both


@pytest.mark.parametrize("key", ["2018-03-01", "2018-07-01", "2020-02-01"])
def test_every_window_of_a_month_matches_duckdb(pittsburgh_readings: pd.DataFrame, key: str):
    ours = compute_month(pittsburgh_readings, key, window_hours=(8, 24), now=NOW)
    sql_hourly, sql_sliding, sql_counts = duckdb_month(pittsburgh_readings, key)

    assert ours.readings_used == sql_counts["used"] > 5_000
    assert ours.readings_without_watershed == sql_counts["without"] > 1_000
    assert ours.hourly["count"].sum() == ours.readings_used

    hourly = ours.hourly.assign(hour=hour_number(ours.hourly["window_start"]))
    assert (hourly["window_end"] - hourly["window_start"] == pd.Timedelta(hours=1)).all()
    assert len(hourly) == len(sql_hourly)
    both = matched(hourly, sql_hourly, ["huc8", "parameter", "unit", "hour"])
    for column in ("count", "sensor_count"):
        assert (both[column] == both[f"{column}_sql"]).all(), column
    for column in ("mean", "min", "max"):
        np.testing.assert_allclose(both[column], both[f"{column}_sql"], rtol=1e-12, atol=1e-12)
    assert (both["sensor_count"] == 2).sum() > 1_000  # per-watershed means mix two sensors

    sliding = ours.sliding.assign(hour=hour_number(ours.sliding["window_start"]))
    assert (
        sliding["window_end"] - sliding["window_start"]
        == pd.to_timedelta(sliding["window_hours"], unit="h")
    ).all()
    assert len(sliding) == len(sql_sliding)
    both = matched(sliding, sql_sliding, ["huc8", "parameter", "unit", "window_hours", "hour"])
    assert (both["hours_present"] == both["hours_present_sql"]).all()
    assert (both["complete"] == both["complete_sql"].astype(bool)).all()
    np.testing.assert_allclose(both["mean"], both["mean_sql"], rtol=1e-12, atol=1e-12)
    assert (
        (ours.sliding["completeness"] == ours.sliding["hours_present"] / 24)
        .where(ours.sliding["window_hours"] == 24, True)
        .all()
    )


def test_gappy_month_has_incomplete_windows_to_compare(pittsburgh_readings: pd.DataFrame):
    """2018-07 has gaps, so the DuckDB comparison above really exercises ``complete``."""
    sliding = compute_month(pittsburgh_readings, "2018-07-01", now=NOW).sliding
    assert (~sliding["complete"]).sum() == 282
    assert sliding["complete"].sum() == len(sliding) - 282
    assert (sliding["hours_present"] <= 2).sum() == 48


def test_last_window_of_march_reads_april_hours(pittsburgh_readings: pd.DataFrame):
    """The 24 h window starting 2018-03-31T23:00 belongs to March and uses 23 hours of April."""
    month = compute_month(pittsburgh_readings, "2018-03-01", now=NOW)
    last_start = pd.Timestamp("2018-03-31T23:00Z")
    assert month.hourly["window_start"].max() == last_start
    last = month.sliding[month.sliding["window_start"] == last_start]
    assert sorted(last["window_hours"].unique()) == [8, 24]
    day = last[last["window_hours"] == 24]
    assert len(day) == 12  # every group of the month has data on 1 April
    assert (day["hours_present"] == 24).all()
    assert (day["window_end"] == pd.Timestamp("2018-04-01T23:00Z")).all()

    readings = pittsburgh_readings
    ozone = readings[(readings["parameter"] == "OZONE_PPM") & (readings["huc8"] == "00000001")]
    in_window = ozone[
        (ozone["event_time"] >= last_start)
        & (ozone["event_time"] < last_start + pd.Timedelta(hours=24))
    ]
    assert len(in_window) == 24
    ours = day.loc[day["parameter"] == "OZONE_PPM", "mean"].item()
    assert ours == pytest.approx(in_window["value"].mean(), rel=1e-12)
