"""Window aggregates of enriched readings per watershed and parameter, over event time in UTC.

This module owns the arithmetic of the window assets: tumbling 1-hour windows
(``hourly_aggregates``), sliding windows of H hours stepping by one hour
(``sliding_aggregates``), the finality flag (``mark_final``) and one monthly partition's worth of
both (``compute_month``). It imports no Dagster; the wiring passes settings in as arguments.

Invariants:
- Windows are half-open ``[window_start, window_end)`` in UTC and start on the hour: a reading at
  exactly 10:00 is in ``[10:00, 11:00)``, never in ``[09:00, 10:00)``.
- The group key is ``GROUP_KEY = (huc8, parameter, unit)``: values in different units are never
  averaged together. Readings whose ``huc8`` is missing ("no watershed") never enter an aggregate;
  ``compute_month`` counts them instead.
- Hourly rows exist only for (group, hour) pairs with at least one reading; ``count`` is the number
  of readings, ``sensor_count`` the number of distinct ``sensor_id`` among them.
- A sliding window's ``mean`` is the mean of the *hourly means* present in it (EPA averaging
  convention for 8-h ozone and 24-h PM2.5), ``hours_present`` the number of hours with data,
  ``completeness = hours_present / window_hours`` and ``complete = completeness >= threshold``.
  A sliding window is emitted only when ``hours_present >= 1``. Each window sum is added up from its
  own hourly means (no running sum that could drift), counts are exact integers.
- A window belongs to the monthly partition of its start (see ``time_partitions``); a month's
  sliding windows read up to ``H - 1`` hours of the next month.
- Outputs are sorted by group key, then ``window_hours`` (sliding), then ``window_start``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from pipeline_defs.windows.time_partitions import input_range_for, month_bounds

GROUP_KEY: tuple[str, ...] = ("huc8", "parameter", "unit")
READING_COLUMNS: tuple[str, ...] = (*GROUP_KEY, "value", "event_time", "sensor_id")
HOURLY_COLUMNS: tuple[str, ...] = (
    *GROUP_KEY,
    "window_start",
    "window_end",
    "mean",
    "min",
    "max",
    "count",
    "sensor_count",
)
SLIDING_COLUMNS: tuple[str, ...] = (
    *GROUP_KEY,
    "window_hours",
    "window_start",
    "window_end",
    "mean",
    "hours_present",
    "completeness",
    "complete",
)
DEFAULT_ALLOWED_LATENESS = pd.Timedelta(hours=48)
"""Matches ``Settings.allowed_lateness_hours``; the wiring passes the configured value."""

_HOUR = pd.Timedelta(hours=1)
_TIME_DTYPE = "datetime64[us, UTC]"


@dataclass(frozen=True)
class MonthAggregates:
    """One monthly partition of window aggregates.

    ``hourly``: ``HOURLY_COLUMNS`` + ``is_final``, windows starting in the month.
    ``sliding``: ``SLIDING_COLUMNS`` + ``is_final``, windows starting in the month, every length.
    ``readings_used``: readings with a watershed whose event time lies in the month
    (equals ``hourly["count"].sum()``).
    ``readings_without_watershed``: readings in the month left out because ``huc8`` is missing.
    Both counts cover the month only, so each reading is counted by exactly one partition.
    """

    hourly: pd.DataFrame
    sliding: pd.DataFrame
    readings_used: int
    readings_without_watershed: int


def hourly_aggregates(
    readings: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """Tumbling 1-hour windows with ``window_start`` in ``[start, end)`` (both on the hour).

    Returns ``HOURLY_COLUMNS``: one row per group and hour holding at least one reading with a
    watershed. Readings outside ``[start, end)`` or without ``huc8`` are ignored.
    """
    start, end = _hour_range(start, end)
    _require_columns(readings, READING_COLUMNS, "readings")
    event_time = _utc_times(readings["event_time"], "readings.event_time")
    selected = (event_time >= start) & (event_time < end) & readings["huc8"].notna()
    rows = readings.loc[selected, [*GROUP_KEY, "sensor_id", "value"]]
    _require_complete_readings(rows)
    rows = rows.assign(window_start=event_time[selected].dt.floor("h"))
    if rows.empty:
        return _empty_hourly(readings)

    grouped = rows.groupby([*GROUP_KEY, "window_start"], sort=True, observed=True)
    out = grouped["value"].agg(["mean", "min", "max", "count"])
    out["sensor_count"] = grouped["sensor_id"].nunique()
    out = out.reset_index()
    out["window_end"] = out["window_start"] + _HOUR
    out["count"] = out["count"].astype("int64")
    out["sensor_count"] = out["sensor_count"].astype("int64")
    return out[list(HOURLY_COLUMNS)]


def sliding_aggregates(
    hourly: pd.DataFrame,
    window_hours: int,
    start: pd.Timestamp,
    end: pd.Timestamp,
    completeness_threshold: float,
) -> pd.DataFrame:
    """Sliding windows of ``window_hours`` hours, step 1 h, ``window_start`` in ``[start, end)``.

    ``hourly`` holds ``HOURLY_COLUMNS`` (at least the group key, ``window_start`` and ``mean``),
    one row per group and hour, and must cover ``[start, end + (window_hours - 1) h)``; rows
    outside that range are ignored. Returns ``SLIDING_COLUMNS``, one row per group and window with
    at least one hour of data.

    Vectorised: the hourly means are laid on a dense (group x hour) grid; each window's sum is
    added up from its own ``window_hours`` cells and its hour count from an exact integer
    cumulative sum.
    """
    _check_window_hours(window_hours)
    if not 0 < completeness_threshold <= 1:
        raise ValueError(f"completeness threshold must be in (0, 1], got {completeness_threshold}")
    start, end = _hour_range(start, end)
    _require_columns(hourly, (*GROUP_KEY, "window_start", "mean"), "hourly")
    n_windows = (end - start) // _HOUR
    n_hours = n_windows + window_hours - 1
    window_start = _utc_times(hourly["window_start"], "hourly.window_start")
    selected = (window_start >= start) & (window_start < start + n_hours * _HOUR)
    rows = hourly.loc[selected, [*GROUP_KEY, "mean"]]
    if rows.empty or n_windows == 0:
        return _empty_sliding(hourly)
    _require_no_nulls(rows, (*GROUP_KEY, "mean"), "hourly")

    offset = window_start[selected] - start
    if not (offset % _HOUR == pd.Timedelta(0)).all():
        raise ValueError("hourly.window_start holds times that are not on the hour")
    hour = (offset // _HOUR).to_numpy(np.int64)
    grouped = rows.groupby(list(GROUP_KEY), sort=True, observed=True)
    group = grouped.ngroup().to_numpy(np.int64)
    keys = grouped.size().index.to_frame(index=False)

    present = np.zeros((len(keys), n_hours), dtype=np.int64)
    np.add.at(present, (group, hour), 1)
    if present.max() > 1:
        raise ValueError(
            f"hourly input has {int((present > 1).sum())} (group, hour) cells with more than one "
            "row; expected one row per group and hour"
        )
    values = np.zeros((len(keys), n_hours), dtype=np.float64)
    values[group, hour] = rows["mean"].to_numpy(np.float64)

    cumulative = np.zeros((len(keys), n_hours + 1), dtype=np.int64)
    np.cumsum(present, axis=1, out=cumulative[:, 1:])
    hours_present = cumulative[:, window_hours:] - cumulative[:, :n_windows]
    sums = sliding_window_view(values, window_hours, axis=1).sum(axis=2)

    g, s = np.nonzero(hours_present)
    out = keys.iloc[g].reset_index(drop=True)
    out["window_hours"] = np.int64(window_hours)
    out["window_start"] = (start + pd.to_timedelta(s, unit="h")).as_unit("us")
    out["window_end"] = out["window_start"] + window_hours * _HOUR
    count = hours_present[g, s]
    out["mean"] = sums[g, s] / count
    out["hours_present"] = count
    out["completeness"] = count / window_hours
    out["complete"] = out["completeness"] >= completeness_threshold
    return out[list(SLIDING_COLUMNS)]


def mark_final(
    frame: pd.DataFrame, now: pd.Timestamp, allowed_lateness: pd.Timedelta
) -> pd.DataFrame:
    """A copy of ``frame`` with ``is_final = window_end + allowed_lateness <= now``.

    A final window may still change: a reading later than the lateness re-materializes it.
    """
    now = _utc_timestamp(now, "now")
    if allowed_lateness < pd.Timedelta(0):
        raise ValueError(f"allowed lateness must be >= 0, got {allowed_lateness}")
    _require_columns(frame, ("window_end",), "frame")
    return frame.assign(is_final=(frame["window_end"] + allowed_lateness <= now).astype(bool))


def compute_month(
    readings: pd.DataFrame,
    key: str,
    window_hours: Iterable[int] = (8, 24),
    completeness_threshold: float = 0.75,
    now: pd.Timestamp | None = None,
    allowed_lateness: pd.Timedelta = DEFAULT_ALLOWED_LATENESS,
) -> MonthAggregates:
    """Hourly and sliding aggregates of the monthly partition ``key`` (``"YYYY-MM-01"``).

    ``readings`` may hold any event times; those in ``input_range_for(key, max(window_hours))``
    are used (the month plus the ``H - 1`` hours the month's last windows reach into). ``now``
    (default: the current time) and ``allowed_lateness`` set ``is_final``.
    """
    lengths = sorted(set(window_hours))
    for hours in lengths:
        _check_window_hours(hours)
    start, end = month_bounds(key)
    input_start, input_end = input_range_for(key, max(lengths, default=1))
    now = pd.Timestamp.now(tz="UTC") if now is None else now

    _require_columns(readings, READING_COLUMNS, "readings")
    event_time = _utc_times(readings["event_time"], "readings.event_time")
    in_month = (event_time >= start) & (event_time < end)
    no_watershed = readings["huc8"].isna()
    readings_without_watershed = int((in_month & no_watershed).sum())
    readings_used = int((in_month & ~no_watershed).sum())

    needed = readings.loc[(event_time >= input_start) & (event_time < input_end) & ~no_watershed]
    hourly = hourly_aggregates(needed, input_start, input_end)
    sliding = [
        sliding_aggregates(hourly, hours, start, end, completeness_threshold) for hours in lengths
    ]
    sliding_frame = (
        pd.concat(sliding, ignore_index=True)
        .sort_values([*GROUP_KEY, "window_hours", "window_start"], kind="stable")
        .reset_index(drop=True)
        if sliding
        else _empty_sliding(readings)
    )
    hourly = hourly.loc[hourly["window_start"] < end].reset_index(drop=True)
    return MonthAggregates(
        hourly=mark_final(hourly, now, allowed_lateness),
        sliding=mark_final(sliding_frame, now, allowed_lateness),
        readings_used=readings_used,
        readings_without_watershed=readings_without_watershed,
    )


# --- validation and empty frames ---------------------------------------------------------------


def _check_window_hours(hours: int) -> None:
    if int(hours) != hours or hours < 1:
        raise ValueError(f"window length must be a whole number of hours >= 1, got {hours!r}")


def _utc_timestamp(ts: pd.Timestamp, name: str) -> pd.Timestamp:
    stamp = pd.Timestamp(ts)
    if stamp.tzinfo is None:
        raise ValueError(f"{name} = {stamp} has no time zone; window times are UTC")
    return stamp.tz_convert("UTC")


def _hour_range(start: pd.Timestamp, end: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp]:
    start, end = _utc_timestamp(start, "start"), _utc_timestamp(end, "end")
    for name, stamp in (("start", start), ("end", end)):
        if stamp != stamp.floor("h"):
            raise ValueError(f"{name} = {stamp} is not on the hour; windows start on the hour")
    if end < start:
        raise ValueError(f"window range ends ({end}) before it starts ({start})")
    return start, end


def _utc_times(times: pd.Series, name: str) -> pd.Series:
    """``times`` as ``datetime64[us, UTC]``; naive or non-datetime columns are refused."""
    if not isinstance(times.dtype, pd.DatetimeTZDtype):
        raise ValueError(f"{name} has dtype {times.dtype}; expected a tz-aware datetime (UTC)")
    if times.isna().any():
        raise ValueError(f"{name} has {int(times.isna().sum())} missing values of {len(times)}")
    return times.dt.tz_convert("UTC").astype(_TIME_DTYPE)


def _require_columns(frame: pd.DataFrame, columns: Iterable[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks columns {missing}; it has {list(frame.columns)}")


def _require_no_nulls(frame: pd.DataFrame, columns: Iterable[str], name: str) -> None:
    nulls = {c: int(n) for c in columns if (n := frame[c].isna().sum())}
    if nulls:
        raise ValueError(f"{name} has missing values (column: rows) {nulls} of {len(frame)} rows")


def _require_complete_readings(rows: pd.DataFrame) -> None:
    """Readings with a watershed must have every key field and a finite value (the enrich stage
    quarantines the rest), so that no reading drops out of an aggregate unnoticed."""
    _require_no_nulls(rows, ("parameter", "unit", "sensor_id", "value"), "readings")
    values = rows["value"].to_numpy(np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(
            f"readings has {int(bad.sum())} non-finite values of {len(values)} "
            "(they should have been quarantined upstream)"
        )


def _empty_hourly(like: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            **{c: pd.Series([], dtype=like[c].dtype) for c in GROUP_KEY},
            "window_start": pd.Series([], dtype=_TIME_DTYPE),
            "window_end": pd.Series([], dtype=_TIME_DTYPE),
            "mean": pd.Series([], dtype="float64"),
            "min": pd.Series([], dtype="float64"),
            "max": pd.Series([], dtype="float64"),
            "count": pd.Series([], dtype="int64"),
            "sensor_count": pd.Series([], dtype="int64"),
        }
    )


def _empty_sliding(like: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            **{c: pd.Series([], dtype=like[c].dtype) for c in GROUP_KEY},
            "window_hours": pd.Series([], dtype="int64"),
            "window_start": pd.Series([], dtype=_TIME_DTYPE),
            "window_end": pd.Series([], dtype=_TIME_DTYPE),
            "mean": pd.Series([], dtype="float64"),
            "hours_present": pd.Series([], dtype="int64"),
            "completeness": pd.Series([], dtype="float64"),
            "complete": pd.Series([], dtype="bool"),
        }
    )
