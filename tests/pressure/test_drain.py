"""plan_drain: examples with exact figures, and its promises as properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline_defs.pressure import plan_drain

CONFIG = dict(
    min_batch=1_000,
    max_batch=100_000,
    max_runs=2,
    memory_budget_bytes=512_000_000,
    bytes_per_record=1_000,
    target_drain_seconds=60,
)


def test_examples() -> None:
    # cap = min(100,000, 512 MB / (2 x 1,000 B) = 256,000) = 100,000
    trickle = plan_drain(30, 2.0, 0, **CONFIG)
    assert (trickle.runs, trickle.batch_records) == (1, 1_000)  # one small run, no waiting
    medium = plan_drain(150_000, 10.0, 0, **CONFIG)
    assert (medium.runs, medium.batch_records) == (2, 100_000)
    backlog = plan_drain(1_000_000, 10.0, 1, **CONFIG)
    assert (backlog.runs, backlog.batch_records) == (1, 100_000)  # one slot left
    busy = plan_drain(1_000_000, 10.0, 2, **CONFIG)
    assert (
        busy.runs == 0
        and busy.reason == "2 ingest runs in flight ≥ limit 2 (1,000,000 records waiting)"
    )
    empty = plan_drain(0, None, 0, **CONFIG)
    assert empty.runs == 0 and empty.reason == "landing queue is empty"


def test_memory_budget_caps_the_batch() -> None:
    config = {**CONFIG, "memory_budget_bytes": 60_000_000}  # 60 MB / (2 x 1,000 B) = 30,000
    plan = plan_drain(500_000, 1.0, 0, **config)
    assert (plan.runs, plan.batch_records, plan.cap_records) == (2, 30_000, 30_000)
    assert "cap 30,000 = min(max batch 100,000, memory 60 MB / (2 runs × 1,000 B))" in plan.reason


def test_urgency_spreads_a_small_backlog_over_free_slots() -> None:
    calm = plan_drain(5_000, 10.0, 0, **CONFIG)
    urgent = plan_drain(5_000, 600.0, 0, **CONFIG)
    assert (calm.runs, calm.batch_records, calm.urgent) == (1, 5_000, False)
    assert (urgent.runs, urgent.batch_records, urgent.urgent) == (2, 2_500, True)
    assert "urgent (oldest ≥ target 60 s)" in urgent.reason


def test_a_budget_too_small_for_one_record_per_run_is_refused() -> None:
    with pytest.raises(
        ValueError, match=r"memory budget 1.5 kB \(1,500 B\) cannot hold one record"
    ):
        plan_drain(10, None, 0, **{**CONFIG, "memory_budget_bytes": 1_500})


configs = st.fixed_dictionaries(
    {
        "min_batch": st.integers(1, 5_000),
        "max_batch": st.integers(5_000, 200_000),
        "max_runs": st.integers(1, 8),
        "memory_budget_bytes": st.integers(10**6, 10**10),
        "bytes_per_record": st.floats(50, 5_000),
        "target_drain_seconds": st.floats(1, 600),
    }
)
depths = st.integers(0, 10**7)
ages = st.none() | st.floats(0, 3_600)


@given(configs, depths, depths, ages, st.integers(0, 10))
def test_monotone_in_depth(config: dict, d1: int, d2: int, age, in_flight: int) -> None:
    low, high = sorted((d1, d2))
    a, b = plan_drain(low, age, in_flight, **config), plan_drain(high, age, in_flight, **config)
    assert a.runs <= b.runs and a.batch_records <= b.batch_records


@given(configs, depths, ages, st.integers(0, 10))
def test_never_exceeds_the_memory_budget(config: dict, depth: int, age, in_flight: int) -> None:
    plan = plan_drain(depth, age, in_flight, **config)
    assert (
        plan.runs * plan.batch_records * config["bytes_per_record"] <= config["memory_budget_bytes"]
    )
    # ... and neither would every slot running a batch of this size.
    assert (
        config["max_runs"] * plan.batch_records * config["bytes_per_record"]
        <= config["memory_budget_bytes"]
    )
    assert 1 <= plan.batch_records <= config["max_batch"]


@given(configs, depths, ages, st.integers(0, 10))
def test_runs_follow_free_slots(config: dict, depth: int, age, in_flight: int) -> None:
    plan = plan_drain(depth, age, in_flight, **config)
    free = config["max_runs"] - in_flight
    if free <= 0 or depth == 0:
        assert plan.runs == 0
    else:
        assert 1 <= plan.runs <= free
        # It drains all it can this tick: everything, or every free slot at the cap.
        assert plan.runs * plan.batch_records >= min(depth, free * plan.cap_records)


@given(configs, st.integers(1, 5_000), ages)
def test_a_trickle_is_one_run_that_takes_it_all(config: dict, depth: int, age) -> None:
    plan = plan_drain(depth, age, 0, **config)
    if depth <= min(config["min_batch"], plan.cap_records):
        assert plan.runs == 1 and plan.batch_records >= depth


@given(configs, depths, st.integers(0, 10), st.floats(0, 3_600), st.floats(0, 3_600))
def test_an_older_backlog_never_gets_fewer_runs(config, depth, in_flight, t1, t2) -> None:
    young, old = sorted((t1, t2))
    assert (
        plan_drain(depth, young, in_flight, **config).runs
        <= plan_drain(depth, old, in_flight, **config).runs
    )


@given(configs, st.integers(1, 10**7))
def test_a_large_backlog_drains_in_fewer_larger_runs(config: dict, depth: int) -> None:
    """Total runs to drain ``depth`` (ticks x runs) never exceeds what min_batch runs would need."""
    plan = plan_drain(depth, 0.0, 0, **config)
    if depth > plan.cap_records:
        assert plan.batch_records == plan.cap_records
    assert math.ceil(depth / plan.batch_records) <= math.ceil(
        depth / min(config["min_batch"], plan.cap_records)
    )
