"""Window semantics on small hand-made readings: half-open hours, group keys, the EPA averaging
convention, completeness, month boundaries, finality, and refusals."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_defs.windows.aggregates import (
    HOURLY_COLUMNS,
    SLIDING_COLUMNS,
    compute_month,
    hourly_aggregates,
    mark_final,
    sliding_aggregates,
)
from pipeline_defs.windows.time_partitions import months_touched

T = pd.Timestamp
HOUR = pd.Timedelta(hours=1)
NOW = T("2030-01-01T00:00Z")


def readings(*rows: tuple) -> pd.DataFrame:
    """Rows of (event_time, value[, sensor_id[, huc8[, parameter[, unit]]]])."""
    defaults = ("s1", "05030101", "ozone", "ppm")
    full = [(T(r[0]), float(r[1]), *r[2:], *defaults[len(r) - 2 :]) for r in rows]
    frame = pd.DataFrame(
        full, columns=["event_time", "value", "sensor_id", "huc8", "parameter", "unit"]
    )
    frame["event_time"] = frame["event_time"].astype("datetime64[us, UTC]")
    for column in ("sensor_id", "huc8", "parameter", "unit"):
        frame[column] = frame[column].astype("str")
    return frame


def hourly_frame(hours: dict[int, float], day: str = "2018-03-10T00:00Z") -> pd.DataFrame:
    """One reading per given hour offset from ``day``, so hourly means equal the values."""
    return readings(*[(T(day) + h * HOUR, v) for h, v in hours.items()])


def test_a_reading_at_the_hour_belongs_to_the_hour_it_starts():
    frame = readings(
        ("2018-03-10T09:59:59.999999Z", 1.0),
        ("2018-03-10T10:00:00Z", 2.0),
        ("2018-03-10T10:59:59Z", 4.0),
        ("2018-03-10T11:00:00Z", 8.0),
    )
    out = hourly_aggregates(frame, T("2018-03-10T09:00Z"), T("2018-03-10T11:00Z"))
    assert list(out.columns) == list(HOURLY_COLUMNS)
    assert out["window_start"].tolist() == [T("2018-03-10T09:00Z"), T("2018-03-10T10:00Z")]
    assert out["window_end"].tolist() == [T("2018-03-10T10:00Z"), T("2018-03-10T11:00Z")]
    assert out["count"].tolist() == [1, 2]  # 11:00 is the (excluded) end of the range
    assert out["mean"].tolist() == [1.0, 3.0]
    assert str(out["window_start"].dtype) == "datetime64[us, UTC]"


def test_hourly_statistics_and_distinct_sensors():
    frame = readings(
        ("2018-03-10T10:05Z", 1.0, "s1"),
        ("2018-03-10T10:35Z", 5.0, "s1"),
        ("2018-03-10T10:40Z", 3.0, "s2"),
    )
    row = hourly_aggregates(frame, T("2018-03-10T00:00Z"), T("2018-03-11T00:00Z")).iloc[0]
    assert (row["mean"], row["min"], row["max"]) == (3.0, 1.0, 5.0)
    assert (row["count"], row["sensor_count"]) == (3, 2)


def test_units_and_watersheds_are_separate_groups():
    frame = readings(
        ("2018-03-10T10:05Z", 1.0, "s1", "05030101", "nitrate", "mg/L"),
        ("2018-03-10T10:06Z", 1000.0, "s2", "05030101", "nitrate", "ug/L"),
        ("2018-03-10T10:07Z", 7.0, "s3", "05030102", "nitrate", "mg/L"),
    )
    out = hourly_aggregates(frame, T("2018-03-10T00:00Z"), T("2018-03-11T00:00Z"))
    got = out[["huc8", "unit", "mean"]].values.tolist()
    assert got == [
        ["05030101", "mg/L", 1.0],
        ["05030101", "ug/L", 1000.0],
        ["05030102", "mg/L", 7.0],
    ]


def test_sliding_mean_is_the_mean_of_hourly_means():
    frame = readings(
        ("2018-03-10T00:10Z", 1.0, "s1"),
        ("2018-03-10T00:20Z", 3.0, "s2"),
        ("2018-03-10T01:10Z", 10.0, "s1"),
    )
    hourly = hourly_aggregates(frame, T("2018-03-10T00:00Z"), T("2018-03-10T08:00Z"))
    out = sliding_aggregates(hourly, 8, T("2018-03-10T00:00Z"), T("2018-03-10T01:00Z"), 0.75)
    assert list(out.columns) == list(SLIDING_COLUMNS)
    row = out.iloc[0]
    assert row["mean"] == 6.0  # (2 + 10) / 2, not (1 + 3 + 10) / 3
    assert (row["hours_present"], row["completeness"], row["complete"]) == (2, 0.25, False)
    assert row["window_end"] == T("2018-03-10T08:00Z")


@pytest.mark.parametrize(
    ("window", "present", "complete"),
    [(8, 6, True), (8, 5, False), (24, 18, True), (24, 17, False)],
)
def test_completeness_threshold_is_inclusive(window: int, present: int, complete: bool):
    frame = hourly_frame({h: float(h) for h in range(present)})
    start = T("2018-03-10T00:00Z")
    hourly = hourly_aggregates(frame, start, start + window * HOUR)
    row = sliding_aggregates(hourly, window, start, start + HOUR, 0.75).iloc[0]
    assert row["hours_present"] == present
    assert row["completeness"] == present / window
    assert bool(row["complete"]) is complete
    assert row["mean"] == sum(range(present)) / present


def test_a_window_is_emitted_only_when_it_holds_data():
    frame = hourly_frame({10: 4.0})
    start = T("2018-03-10T00:00Z")
    hourly = hourly_aggregates(frame, start, start + 31 * HOUR)
    out = sliding_aggregates(hourly, 8, start, start + 24 * HOUR, 0.75)
    assert out["window_start"].tolist() == [start + h * HOUR for h in range(3, 11)]
    assert (out["hours_present"] == 1).all()
    assert (out["mean"] == 4.0).all()


def test_sliding_ignores_hourly_rows_outside_its_input_range():
    frame = hourly_frame({0: 1.0, 8: 100.0, 9: 1000.0})
    start = T("2018-03-10T00:00Z")
    hourly = hourly_aggregates(frame, start, start + 24 * HOUR)
    out = sliding_aggregates(hourly, 8, start, start + 2 * HOUR, 0.75)
    # windows [00,08) and [01,09): hour 8 only in the second, hour 9 in neither
    assert out["mean"].tolist() == [1.0, 100.0]
    assert out["hours_present"].tolist() == [1, 1]


@settings(max_examples=60, deadline=None)
@given(
    cells=st.dictionaries(
        st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 40)),
        st.one_of(st.floats(-1e12, 1e12), st.sampled_from([1e12, 1e-3, 0.1, -7.0])),
        min_size=1,
        max_size=60,
    ),
    window=st.integers(1, 12),
    first=st.integers(0, 10),
    count=st.integers(0, 30),
)
def test_sliding_matches_brute_force_without_drift(cells, window, first, count):
    """Per-window means equal an exact (fsum) reference, even after huge values leave a window."""
    base = T("2018-03-10T00:00Z")
    hourly = pd.DataFrame(
        {
            "huc8": [g for g, _ in cells],
            "parameter": "p",
            "unit": "u",
            "window_start": pd.Series(
                [base + h * HOUR for _, h in cells], dtype="datetime64[us, UTC]"
            ),
            "mean": list(cells.values()),
        }
    )
    start, end = base + first * HOUR, base + (first + count) * HOUR
    out = sliding_aggregates(hourly, window, start, end, 0.5)
    expected = []
    for group in ("a", "b"):
        for s in range(first, first + count):
            inside = [v for (g, h), v in cells.items() if g == group and s <= h < s + window]
            if inside:
                expected.append((group, s, len(inside), math.fsum(inside) / len(inside)))
    assert len(out) == len(expected)
    got_hours = ((out["window_start"] - base) // HOUR).tolist()
    assert list(zip(out["huc8"], got_hours, out["hours_present"], strict=True)) == [
        e[:3] for e in expected
    ]
    np.testing.assert_allclose(out["mean"], [e[3] for e in expected], rtol=1e-9, atol=1e-9)
    assert (out["complete"] == (out["hours_present"] * 2 >= window)).all()


def test_month_boundary_window_uses_next_month_and_belongs_to_the_earlier_month():
    # one reading per hour from 2018-03-31T20:00 to 2018-04-02T00:00, value = hours since 20:00
    frame = readings(*[(T("2018-03-31T20:30Z") + h * HOUR, float(h)) for h in range(28)])
    march = compute_month(frame, "2018-03-01", window_hours=(24,), now=NOW)
    april = compute_month(frame, "2018-04-01", window_hours=(24,), now=NOW)

    assert march.hourly["window_start"].max() == T("2018-03-31T23:00Z")
    assert march.readings_used == 4 and april.readings_used == 24
    last = march.sliding[march.sliding["window_start"] == T("2018-03-31T23:00Z")].iloc[0]
    assert last["hours_present"] == 24
    assert last["window_end"] == T("2018-04-01T23:00Z")
    assert last["mean"] == sum(range(3, 27)) / 24
    assert march.sliding["window_start"].min() == T("2018-03-30T21:00Z")  # 20:30 - 23 h, floored
    assert april.sliding["window_start"].min() == T("2018-04-01T00:00Z")
    assert T("2018-03-31T23:00Z") not in set(april.sliding["window_start"])


def test_readings_without_watershed_are_excluded_and_counted():
    frame = readings(
        ("2018-03-10T10:05Z", 1.0, "s1", "05030101"),
        ("2018-03-10T10:06Z", 100.0, "s2", None),
        ("2018-03-10T11:06Z", 200.0, "s2", None),
        ("2018-04-01T03:00Z", 300.0, "s2", None),  # in March's input range, April's month
    )
    frame.loc[2, "huc8"] = np.nan
    month = compute_month(frame, "2018-03-01", now=NOW)
    assert (month.readings_used, month.readings_without_watershed) == (1, 2)
    assert month.hourly["mean"].tolist() == [1.0]
    assert month.hourly["huc8"].tolist() == ["05030101"]
    assert set(month.sliding["mean"]) == {1.0}
    assert len(month.sliding) == 8 + 24


def test_mark_final_at_end_plus_lateness():
    end = T("2018-03-10T11:00Z")
    frame = pd.DataFrame({"window_end": pd.Series([end, end + HOUR], dtype="datetime64[us, UTC]")})
    lateness = pd.Timedelta(hours=48)
    out = mark_final(frame, end + lateness, lateness)
    assert out["is_final"].tolist() == [True, False]
    assert "is_final" not in frame.columns
    just_before = mark_final(frame, end + lateness - pd.Timedelta(microseconds=1), lateness)
    assert just_before["is_final"].tolist() == [False, False]


def test_compute_month_marks_finality_against_now():
    frame = hourly_frame({0: 1.0}, day="2018-03-31T23:00Z")
    month = compute_month(
        frame, "2018-03-01", now=T("2018-04-01T12:00Z"), allowed_lateness=pd.Timedelta(hours=1)
    )
    # The hour [23:00, 00:00) and the 8 h window from 23:00 end (+1 h lateness) before noon on
    # 1 April; the 24 h window from 23:00 ends at 2018-04-01T23:00, so it is not final yet.
    assert month.hourly["is_final"].tolist() == [True]
    final = month.sliding.set_index(["window_hours", "window_start"])["is_final"]
    assert final[(8, T("2018-03-31T23:00Z"))]
    assert not final[(24, T("2018-03-31T23:00Z"))]


def test_one_more_reading_changes_exactly_the_months_touched():
    base = readings(*[(T("2018-02-27T00:30Z") + 5 * h * HOUR, float(h)) for h in range(60)])
    keys = ["2018-02-01", "2018-03-01", "2018-04-01"]
    before = {k: compute_month(base, k, now=NOW) for k in keys}
    for late in ("2018-03-01T05:00Z", "2018-03-01T23:00Z", "2018-03-02T00:00Z"):
        extra = readings((late, 1000.0))
        after = pd.concat([base, extra], ignore_index=True)
        changed = [
            k
            for k in keys
            if not compute_month(after, k, now=NOW).sliding.equals(before[k].sliding)
            or not compute_month(after, k, now=NOW).hourly.equals(before[k].hourly)
        ]
        assert changed == months_touched(extra["event_time"], 24), late


def test_empty_input_gives_typed_empty_frames():
    frame = readings(("2018-05-10T10:05Z", 1.0))
    month = compute_month(frame, "2018-03-01", now=NOW)
    assert month.hourly.empty and month.sliding.empty
    assert list(month.hourly.columns) == [*HOURLY_COLUMNS, "is_final"]
    assert list(month.sliding.columns) == [*SLIDING_COLUMNS, "is_final"]
    assert str(month.sliding["window_start"].dtype) == "datetime64[us, UTC]"
    assert (month.readings_used, month.readings_without_watershed) == (0, 0)


def test_refusals_carry_their_figures():
    frame = readings(("2018-03-10T10:05Z", 1.0), ("2018-03-10T10:06Z", float("inf")))
    start, end = T("2018-03-10T00:00Z"), T("2018-03-11T00:00Z")
    with pytest.raises(ValueError, match="1 non-finite values of 2"):
        hourly_aggregates(frame, start, end)
    missing = frame.assign(value=[1.0, float("nan")])
    with pytest.raises(ValueError, match="'value': 1} of 2 rows"):
        hourly_aggregates(missing, start, end)
    with pytest.raises(ValueError, match="not on the hour"):
        hourly_aggregates(frame, start + pd.Timedelta(minutes=5), end)
    naive = frame.assign(event_time=frame["event_time"].dt.tz_localize(None))
    with pytest.raises(ValueError, match="tz-aware"):
        hourly_aggregates(naive, start, end)
    no_unit = frame.drop(columns="unit")
    with pytest.raises(ValueError, match=r"lacks columns \['unit'\]"):
        hourly_aggregates(no_unit, start, end)

    twice = hourly_aggregates(frame.iloc[:1], start, end)
    twice = pd.concat([twice, twice], ignore_index=True)
    with pytest.raises(ValueError, match="1 \\(group, hour\\) cells"):
        sliding_aggregates(twice, 8, start, end, 0.75)
    with pytest.raises(ValueError, match="threshold"):
        sliding_aggregates(twice, 8, start, end, 0.0)
    with pytest.raises(ValueError, match="day 15"):
        compute_month(frame, "2018-03-15")
