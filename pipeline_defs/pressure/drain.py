"""Adaptive drain: how many ingest runs to launch this tick, and how many readings each leases.

Owns one pure function, ``plan_drain``. The landing sensor calls it every tick with the queue's
depth, the age of its oldest reading and the ingest runs already in flight.

The formula (all divisions of records round up; ``free = max_runs - in_flight_runs``):

    cap      = min(max_batch, floor(memory_budget_bytes / (max_runs * bytes_per_record)))
    floor_   = min(min_batch, cap)
    urgent   = oldest_age_seconds >= target_drain_seconds
    not urgent (economy: as few, as large runs as possible)
        batch = clamp(depth, floor_, cap);         runs = min(free, ceil(depth / batch))
    urgent (spread the backlog over every free slot, none smaller than floor_)
        runs  = min(free, ceil(depth / floor_));   batch = clamp(ceil(depth / runs), floor_, cap)
    depth == 0 or free <= 0  ->  0 runs

Promises (property-tested):

- *memory*: ``runs * batch_records * bytes_per_record <= memory_budget_bytes``. Each run gets at
  most one slot's share of the budget (budget / max_runs), so this holds for all runs in flight
  together, not just the new ones, as long as they were all planned with the same budget;
- *progress*: at least one run whenever ``depth > 0`` and a slot is free; none when no slot is;
- *trickle*: a depth of at most ``floor_`` is one run leasing all of it at once — it never waits
  for a full batch, so it lands within one sensor interval;
- *backlog*: batch size and runs are non-decreasing in depth; a large backlog drains in
  ``ceil(depth / cap)`` runs of ``cap`` readings instead of many ``min_batch`` runs;
- *urgency*: an old oldest reading never lowers the number of runs; it spreads the backlog over
  every free slot so that the parallel runs together finish sooner.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pipeline_defs.pressure.figures import format_bytes


@dataclass(frozen=True)
class DrainPlan:
    """Launch ``runs`` ingest runs, each leasing at most ``batch_records`` readings."""

    batch_records: int
    runs: int
    reason: str
    urgent: bool = False
    cap_records: int = 0  # the per-run ceiling: min(max_batch, memory share)


def batch_cap(
    *, max_batch: int, max_runs: int, memory_budget_bytes: int, bytes_per_record: float
) -> int:
    """Largest batch a run may lease: ``max_batch`` or one slot's share of the memory budget."""
    share = math.floor(memory_budget_bytes / (max_runs * bytes_per_record))
    if share < 1:
        raise ValueError(
            f"memory budget {format_bytes(memory_budget_bytes)} ({memory_budget_bytes:,} B)"
            f" cannot hold one record of {bytes_per_record:,.0f} B in each of {max_runs} runs"
        )
    return min(max_batch, share)


def plan_drain(
    depth_records: int,
    oldest_age_seconds: float | None,
    in_flight_runs: int,
    *,
    min_batch: int,
    max_batch: int,
    max_runs: int,
    memory_budget_bytes: int,
    bytes_per_record: float,
    target_drain_seconds: float,
) -> DrainPlan:
    """The plan for this tick (see the module docstring for the formula and its promises)."""
    _validate(min_batch, max_batch, max_runs, bytes_per_record, target_drain_seconds)
    cap = batch_cap(
        max_batch=max_batch,
        max_runs=max_runs,
        memory_budget_bytes=memory_budget_bytes,
        bytes_per_record=bytes_per_record,
    )
    floor_ = min(min_batch, cap)
    free = max_runs - max(0, in_flight_runs)
    urgent = oldest_age_seconds is not None and oldest_age_seconds >= target_drain_seconds
    if depth_records <= 0:
        return DrainPlan(floor_, 0, "landing queue is empty", False, cap)
    if free <= 0:
        return DrainPlan(
            floor_,
            0,
            f"{in_flight_runs} ingest runs in flight ≥ limit {max_runs}"
            f" ({depth_records:,} records waiting)",
            urgent,
            cap,
        )
    if urgent:
        runs = min(free, _ceil_div(depth_records, floor_))
        batch = _clamp(_ceil_div(depth_records, runs), floor_, cap)
    else:
        batch = _clamp(depth_records, floor_, cap)
        runs = min(free, _ceil_div(depth_records, batch))
    age = "" if oldest_age_seconds is None else f", oldest {oldest_age_seconds:,.0f} s"
    mode = (
        f"urgent (oldest ≥ target {target_drain_seconds:,.0f} s): spread over free slots"
        if urgent
        else "economy: fewest runs"
    )
    limit = (
        f"cap {cap:,} = min(max batch {max_batch:,}, memory {format_bytes(memory_budget_bytes)}"
        f" / ({max_runs} runs × {bytes_per_record:,.0f} B))"
    )
    reason = (
        f"{depth_records:,} records waiting{age}; {runs} run{'s' if runs != 1 else ''}"
        f" × ≤ {batch:,} records ({free} of {max_runs} slots free; {mode}; {limit})"
    )
    return DrainPlan(batch, runs, reason, urgent, cap)


def _validate(
    min_batch: int,
    max_batch: int,
    max_runs: int,
    bytes_per_record: float,
    target_drain_seconds: float,
) -> None:
    if not 1 <= min_batch <= max_batch:
        raise ValueError(
            f"drain plan: need 1 ≤ min_batch ≤ max_batch, got {min_batch:,}, {max_batch:,}"
        )
    if max_runs < 1:
        raise ValueError(f"drain plan: max_runs must be ≥ 1, got {max_runs}")
    if not bytes_per_record > 0:
        raise ValueError(f"drain plan: bytes_per_record must be > 0, got {bytes_per_record}")
    if target_drain_seconds < 0:
        raise ValueError(
            f"drain plan: target_drain_seconds must be ≥ 0, got {target_drain_seconds}"
        )


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(value, high))
