"""Monthly partitions: keys, bounds, input ranges, and which months a reading touches."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline_defs.windows.time_partitions import (
    input_range_for,
    month_bounds,
    month_start,
    months_touched,
    partition_key_for,
)

T = pd.Timestamp


def test_month_start_and_key_are_utc_months():
    assert month_start(T("2018-03-17T12:34:56Z")) == T("2018-03-01T00:00Z")
    # 01:00 on 1 March at UTC+05:00 is still February in UTC.
    assert partition_key_for(T("2018-03-01T01:00+05:00")) == "2018-02-01"
    assert partition_key_for(T("2018-03-31T23:59:59.999999Z")) == "2018-03-01"
    assert partition_key_for(T("2018-04-01T00:00Z")) == "2018-04-01"


def test_naive_timestamps_are_refused():
    with pytest.raises(ValueError, match="no time zone"):
        month_start(T("2018-03-17T12:00"))
    with pytest.raises(ValueError, match="no time zone"):
        months_touched(pd.DatetimeIndex([T("2018-03-17T12:00")]), 24)


def test_month_bounds_are_half_open_months():
    assert month_bounds("2018-03-01") == (T("2018-03-01T00:00Z"), T("2018-04-01T00:00Z"))
    assert month_bounds("2018-12-01") == (T("2018-12-01T00:00Z"), T("2019-01-01T00:00Z"))
    start, end = month_bounds("2020-02-01")
    assert (end - start) == pd.Timedelta(days=29)


@pytest.mark.parametrize("key", ["2018-03-15", "2018-3-1", "2018-03", "march", "2018-03-01T00:00"])
def test_month_bounds_refuses_keys_that_are_not_month_starts(key: str):
    with pytest.raises(ValueError, match=key):
        month_bounds(key)


def test_input_range_reaches_h_minus_one_hours_into_next_month():
    assert input_range_for("2018-03-01", 24) == (T("2018-03-01T00:00Z"), T("2018-04-01T23:00Z"))
    assert input_range_for("2018-03-01", 8) == (T("2018-03-01T00:00Z"), T("2018-04-01T07:00Z"))
    assert input_range_for("2018-03-01", 1) == month_bounds("2018-03-01")
    with pytest.raises(ValueError, match="0"):
        input_range_for("2018-03-01", 0)


def test_months_touched_examples():
    def touched(*times: str, hours: int = 24) -> list[str]:
        return months_touched(pd.DatetimeIndex([T(t) for t in times]), hours)

    assert touched("2018-04-01T05:00Z") == ["2018-03-01", "2018-04-01"]
    # The window starting 2018-03-31T23:00 ends at 2018-04-01T23:00 (excluded) ...
    assert touched("2018-04-01T22:59:59Z") == ["2018-03-01", "2018-04-01"]
    assert touched("2018-04-01T23:00Z") == ["2018-04-01"]
    # ... and hourly windows alone never reach back into the previous month.
    assert touched("2018-04-01T00:00Z", hours=1) == ["2018-04-01"]
    assert touched("2018-04-15T00:00Z", "2017-12-31T23:00Z", "2018-04-16T00:00Z") == [
        "2017-12-01",
        "2018-04-01",
    ]
    # A window longer than a month: every month in between is touched.
    assert touched("2018-04-02T00:00Z", hours=24 * 62) == [
        "2018-01-01",
        "2018-02-01",
        "2018-03-01",
        "2018-04-01",
    ]
    assert months_touched(pd.DatetimeIndex([], tz="UTC"), 24) == []
    series = pd.Series([T("2018-04-01T05:00Z")] * 3, dtype="datetime64[us, UTC]")
    assert months_touched(series, 24) == ["2018-03-01", "2018-04-01"]
    with pytest.raises(ValueError, match="no time zone"):
        months_touched(np.array(["2018-04-01T05:00"], dtype="datetime64[us]"), 24)


@given(
    t=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
    ),
    hours=st.one_of(st.integers(1, 48), st.integers(1, 24 * 70)),
)
def test_months_touched_agrees_with_window_enumeration_and_input_ranges(t, hours):
    """The months touched are those of the hour-aligned windows [s, s + H) that contain t, and
    exactly the months whose input range contains t."""
    stamp = T(t)
    floor = stamp.floor("h")
    starts = pd.date_range(floor - (hours - 1) * pd.Timedelta(hours=1), floor, freq="h")
    assert all((s <= stamp < s + pd.Timedelta(hours=hours)) for s in starts[[0, -1]])
    expected = sorted({s.strftime("%Y-%m-01") for s in starts})
    assert months_touched(pd.DatetimeIndex([stamp]), hours) == expected

    candidates = pd.date_range(month_start(starts[0]), month_start(stamp), freq="MS")
    around = [*candidates, candidates[-1] + pd.DateOffset(months=1)]
    before = candidates[0] - pd.DateOffset(months=1)
    for month in [before, *around]:
        key = month.strftime("%Y-%m-%d")
        lo, hi = input_range_for(key, hours)
        assert (lo <= stamp < hi) == (key in expected), key
