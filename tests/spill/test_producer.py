"""SpillingProducer against a real LandingQueue and SpillStore: queue, spill, block, pause.

Every test checks the no-drop promise the hard way: the reading ids found in the queue, acked
out of it and in spill segments are exactly the ids offered, each once.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline_defs.landing.queue import LandingQueue
from pipeline_defs.pressure.memory_guard import MemoryGuard, MemorySample
from pipeline_defs.spill import Admission, SpillingProducer, SpillStore
from tests.spill.helpers import make_readings, reading_ids

MB = 1_000_000


def wait_until(condition: Callable[[], bool], what: str, limit: float = 20.0) -> None:
    """Poll ``condition``; fail (not a timing assert: a hang guard) if it never holds."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"never happened within {limit} s: {what}")
        time.sleep(0.005)


def open_queue(tmp_path: Path, max_records: int) -> LandingQueue:
    return LandingQueue.open(
        tmp_path / "queue.sqlite", max_records, 10**8, lease_seconds=60, put_poll_seconds=0.01
    )


def drain_ids(queue: LandingQueue) -> list[int]:
    """Lease and ack everything in the queue; the ids that came out."""
    out = []
    while (lease := queue.lease(max_records=10**6)) is not None:
        out += reading_ids(lease.readings)
        assert queue.ack(lease.batch_id)
    return out


def spilled_ids(store: SpillStore) -> list[int]:
    return [i for info in store.list() for i in reading_ids(store.read(info.id))]


def segment_size(tmp_path: Path, ids: range) -> int:
    return SpillStore(tmp_path / "probe", 10**9).write(make_readings(ids)).bytes


def test_spills_when_the_queue_stays_full(tmp_path: Path) -> None:
    queue, spill = open_queue(tmp_path, 10), SpillStore(tmp_path / "spill", 10**7)
    producer = SpillingProducer(queue, spill, spill_after_seconds=0.1, poll_seconds=0.01)

    assert producer.put(make_readings(range(0, 6))) is Admission.QUEUED
    assert producer.put(make_readings(range(6, 10))) is Admission.QUEUED
    assert producer.put(make_readings(range(10, 15))) == "spilled"

    c = producer.counters
    assert (c.offered_records, c.queued_records, c.spilled_records) == (15, 10, 5)
    assert (c.queued_envelopes, c.spilled_segments, c.spill_full_retries) == (2, 1, 0)
    assert spill.stats().pending_records == 5 and producer.last_segment.records == 5
    assert spilled_ids(spill) == list(range(10, 15))
    assert drain_ids(queue) == list(range(10))


def test_blocks_while_queue_and_spill_are_full_until_an_ack_frees_the_queue(
    tmp_path: Path,
) -> None:
    queue = open_queue(tmp_path, 10)
    spill = SpillStore(tmp_path / "spill", segment_size(tmp_path, range(10, 15)) + 10)
    producer = SpillingProducer(queue, spill, spill_after_seconds=0.1, poll_seconds=0.01)
    assert producer.put(make_readings(range(0, 5))) is Admission.QUEUED
    assert producer.put(make_readings(range(5, 10))) is Admission.QUEUED
    assert producer.put(make_readings(range(10, 15))) is Admission.SPILLED  # the budget is used

    outcome: list[Admission] = []
    blocked = threading.Thread(
        target=lambda: outcome.append(producer.put(make_readings(range(15, 20)))), daemon=True
    )
    blocked.start()
    wait_until(lambda: producer.counters.spill_full_retries >= 3, "spill refused 3 times")
    assert blocked.is_alive() and outcome == []
    assert queue.stats().depth_records == 10 and spill.stats().pending_segments == 1

    lease = queue.lease(max_records=5)
    acked = reading_ids(lease.readings)
    assert queue.ack(lease.batch_id)
    blocked.join(20)
    assert not blocked.is_alive() and outcome == [Admission.QUEUED]

    c = producer.counters
    assert (c.offered_records, c.queued_records, c.spilled_records) == (20, 15, 5)
    assert c.queued_records + c.spilled_records == c.offered_records
    assert c.blocked_seconds > 0
    found = acked + drain_ids(queue) + spilled_ids(spill)
    assert sorted(found) == list(range(20))


def test_concurrent_producers_drop_and_duplicate_nothing(tmp_path: Path) -> None:
    """4 producer threads, a consumer acking the queue and a replayer archiving segments."""
    queue, spill = open_queue(tmp_path, 40), SpillStore(tmp_path / "spill", 30_000)
    producer = SpillingProducer(queue, spill, spill_after_seconds=0.02, poll_seconds=0.005)
    rng = random.Random(7)
    plans = [[rng.randint(1, 15) for _ in range(25)] for _ in range(4)]
    starts = iter(range(0, 10**6, 100))
    work = [[range(s, s + n) for s, n in zip(starts, plan, strict=False)] for plan in plans]
    offered = [i for ranges in work for r in ranges for i in r]
    consumed: list[int] = []
    done = threading.Event()

    def consume() -> None:
        # Start only once something has spilled: both paths are then certainly exercised.
        while producer.counters.spilled_segments == 0:
            time.sleep(0.005)
        while not done.is_set() or queue.stats().depth_records:
            lease = queue.lease(max_records=25)
            if lease is None:
                time.sleep(0.01)
                continue
            consumed.extend(reading_ids(lease.readings))
            queue.ack(lease.batch_id)
            for info in spill.list("pending")[:1]:  # slow replay: one segment per batch
                consumed.extend(reading_ids(spill.read(info.id)))
                spill.archive(info.id)

    producers = [
        threading.Thread(
            target=lambda rs=rs: [producer.put(make_readings(r)) for r in rs], daemon=True
        )
        for rs in work
    ]
    consumer = threading.Thread(target=consume, daemon=True)
    for t in [*producers, consumer]:
        t.start()
    for t in producers:
        t.join(60)
    done.set()
    consumer.join(60)
    assert not any(t.is_alive() for t in [*producers, consumer])

    rest = [i for info in spill.list("pending") for i in reading_ids(spill.read(info.id))]
    assert Counter(consumed + rest) == Counter(offered)  # each offered reading exactly once
    c = producer.counters
    assert c.offered_records == len(offered) == c.queued_records + c.spilled_records
    assert c.spilled_records == spill.stats().archived_records + spill.stats().pending_records
    assert c.spilled_records > 0 and c.queued_records > 0


def test_aput_spills_and_blocks_without_blocking_the_event_loop(tmp_path: Path) -> None:
    queue = open_queue(tmp_path, 10)
    spill = SpillStore(tmp_path / "spill", segment_size(tmp_path, range(10, 15)) + 10)
    producer = SpillingProducer(queue, spill, spill_after_seconds=0.05, poll_seconds=0.01)

    async def scenario() -> tuple[list[Admission], int, list[int]]:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.005)

        async def acker() -> list[int]:
            while producer.counters.spill_full_retries < 2:
                await asyncio.sleep(0.005)
            lease = queue.lease(max_records=5)
            queue.ack(lease.batch_id)
            return reading_ids(lease.readings)

        tick_task = asyncio.create_task(ticker())
        admissions = [await producer.aput(make_readings(range(i, i + 5))) for i in (0, 5, 10)]
        ticks_before_block = ticks
        blocked, acked = await asyncio.gather(producer.aput(make_readings(range(15, 20))), acker())
        stop.set()
        await tick_task
        return [*admissions, blocked], ticks - ticks_before_block, acked

    admissions, ticks_while_blocked, acked = asyncio.run(scenario())
    assert admissions == ["queued", "queued", "spilled", "queued"]
    assert ticks_while_blocked > 0  # the loop kept running while aput waited
    assert sorted(acked + drain_ids(queue) + spilled_ids(spill)) == list(range(20))
    c = producer.counters
    assert (c.offered_records, c.queued_records, c.spilled_records) == (20, 15, 5)


class ScriptedMemory:
    """A sample function whose answer the test sets; counts how often it was asked."""

    def __init__(self, rss_bytes: int, percent: float) -> None:
        self.sample = MemorySample(rss_bytes, percent)
        self.calls = 0

    def __call__(self) -> MemorySample:
        self.calls += 1
        return self.sample


def test_producer_really_blocks_while_the_guard_is_paused(tmp_path: Path) -> None:
    queue, spill = open_queue(tmp_path, 100), SpillStore(tmp_path / "spill", 10**7)
    memory = ScriptedMemory(900 * MB, 50.0)  # RSS above the high mark
    guard = MemoryGuard(800 * MB, 700 * MB, 90.0, 80.0, sample=memory)
    producer = SpillingProducer(queue, spill, 0.1, guard, poll_seconds=0.005)
    outcome: list[Admission] = []
    worker = threading.Thread(
        target=lambda: outcome.append(producer.put(make_readings(range(7)))), daemon=True
    )
    worker.start()

    wait_until(lambda: memory.calls >= 5, "5 guard checks while paused")
    assert worker.is_alive() and queue.stats().depth_records == 0 and outcome == []
    assert producer.last_pressure.paused and "RSS 900 MB ≥ 800 MB" in producer.last_pressure.reason

    memory.sample = MemorySample(750 * MB, 50.0)  # between the marks: stays paused
    seen = memory.calls
    wait_until(lambda: memory.calls >= seen + 5, "5 more guard checks between the marks")
    assert worker.is_alive() and queue.stats().depth_records == 0
    assert "still paused" in producer.last_pressure.reason

    memory.sample = MemorySample(650 * MB, 50.0)  # below both low marks: resumes
    worker.join(20)
    assert outcome == [Admission.QUEUED] and queue.stats().depth_records == 7
    c = producer.counters
    assert c.paused_waits == 1 and c.paused_seconds > 0 and c.queued_records == 7
    assert guard.paused_checks == memory.calls - 1  # every check but the last said "paused"
