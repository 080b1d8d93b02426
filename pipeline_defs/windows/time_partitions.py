"""Monthly event-time partitions of the window aggregates, and which of them a reading touches.

This module owns the mapping between event time (UTC) and the monthly partitions of the window
assets. Partition keys use Dagster's ``MonthlyPartitionsDefinition`` key format, ``"YYYY-MM-DD"``
with the day always ``01`` (e.g. ``"2018-03-01"``), but this module does not import Dagster.

Invariants:
- A partition is the half-open UTC month ``[month_start, next_month_start)``.
- Every window (tumbling 1 h or sliding H h, all starting on the hour) belongs to the partition
  that holds its *start*. A sliding window starting at ``s`` covers ``[s, s + H h)``, so it may
  read up to ``H - 1`` hours of the next month: ``input_range_for`` says which readings a
  partition needs, ``months_touched`` says which partitions a reading changes. The two agree: a
  reading at ``t`` is in ``input_range_for(k, H)`` exactly when ``k`` is in
  ``months_touched([t], H)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PARTITION_KEY_FORMAT = "%Y-%m-%d"
"""Dagster's ``MonthlyPartitionsDefinition`` key format (its default ``fmt``)."""

_HOUR = pd.Timedelta(hours=1)


def _as_utc(ts: pd.Timestamp | str) -> pd.Timestamp:
    """``ts`` as a UTC timestamp; naive timestamps are refused rather than guessed."""
    stamp = pd.Timestamp(ts)
    if stamp.tzinfo is None:
        raise ValueError(f"timestamp {stamp} has no time zone; event times must be tz-aware (UTC)")
    return stamp.tz_convert("UTC")


def month_start(ts: pd.Timestamp | str) -> pd.Timestamp:
    """The first instant (00:00 UTC on day 1) of the UTC month holding ``ts``."""
    stamp = _as_utc(ts)
    return pd.Timestamp(year=stamp.year, month=stamp.month, day=1, tz="UTC")


def partition_key_for(ts: pd.Timestamp | str) -> str:
    """The key (``"YYYY-MM-DD"``) of the monthly partition holding event time ``ts``."""
    return month_start(ts).strftime(PARTITION_KEY_FORMAT)


def month_bounds(key: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``(start, end)`` of the half-open UTC month named by partition key ``key``.

    Raises ``ValueError`` for a key that is not a ``"YYYY-MM-01"`` date.
    """
    try:
        start = pd.to_datetime(key, format=PARTITION_KEY_FORMAT, utc=True)
    except (ValueError, TypeError) as err:
        raise ValueError(
            f"partition key {key!r} is not a date in the format {PARTITION_KEY_FORMAT}"
        ) from err
    if start.day != 1:
        raise ValueError(f"partition key {key!r} is day {start.day} of its month, not day 1")
    canonical = start.strftime(PARTITION_KEY_FORMAT)
    if canonical != key:
        raise ValueError(f"partition key {key!r} is not canonical; expected {canonical!r}")
    return start, start + pd.DateOffset(months=1)


def input_range_for(key: str, max_window_hours: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Event-time range ``[month_start, month_end + (H - 1) h)`` of the readings a month needs.

    The last window of the month starts at ``month_end - 1 h`` and, for ``H`` hours, ends at
    ``month_end + (H - 1) h``.
    """
    _check_window_hours(max_window_hours)
    start, end = month_bounds(key)
    return start, end + (max_window_hours - 1) * _HOUR


def months_touched(
    event_times: pd.Series | pd.DatetimeIndex | np.ndarray, max_window_hours: int
) -> list[str]:
    """Sorted keys of the partitions whose windows change when readings at ``event_times`` arrive.

    A reading at ``t`` lies in the hour-aligned windows starting in ``(t - H h, t]``: those
    starting from ``floor_hour(t) - (H - 1) h`` to ``floor_hour(t)``. The partitions touched are
    the months from that of ``t - (H - 1) h`` to that of ``t`` (two at most unless ``H`` exceeds a
    month). Vectorised over ``event_times``; an empty input touches nothing.
    """
    _check_window_hours(max_window_hours)
    times = pd.DatetimeIndex(event_times)
    if times.tz is None:
        raise ValueError(
            f"{len(times)} event times have no time zone; event times must be tz-aware (UTC)"
        )
    if len(times) == 0:
        return []
    if times.hasnans:
        raise ValueError(f"{int(times.isna().sum())} of {len(times)} event times are missing")
    times = times.tz_convert("UTC")
    last = _month_ordinals(times)
    first = _month_ordinals(times - (max_window_hours - 1) * _HOUR)
    # Each reading touches the run of months first..last; expand the runs without a Python loop.
    lengths = last - first + 1
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    months = np.unique(np.repeat(first, lengths) + offsets)
    return [f"{m // 12:04d}-{m % 12 + 1:02d}-01" for m in months.tolist()]


def _month_ordinals(times: pd.DatetimeIndex) -> np.ndarray:
    """Months since year 0 (``year * 12 + month - 1``) of UTC timestamps, as int64."""
    return times.year.to_numpy(np.int64) * 12 + times.month.to_numpy(np.int64) - 1


def _check_window_hours(hours: int) -> None:
    if int(hours) != hours or hours < 1:
        raise ValueError(f"window length must be a whole number of hours >= 1, got {hours!r}")
