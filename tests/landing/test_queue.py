"""LandingQueue in one process: bounds at their edges, blocking puts, leases, acks, reopen."""

from __future__ import annotations

import asyncio
import csv
import threading
import time
from pathlib import Path

import pyarrow as pa
import pytest

from pipeline_defs.landing import LandingQueue, QueueFull, encode_envelope
from pipeline_defs.reading import READING_SCHEMA
from pipeline_defs.settings import Settings
from tests.landing.helpers import (
    AIR_QUALITY_FILE,
    make_envelope,
    raw_view,
    reading_ids,
    real_readings,
)


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def open_queue(tmp_path: Path, max_records: int = 10, max_bytes: int = 2**30, **kw) -> LandingQueue:
    return LandingQueue.open(tmp_path / "q" / "queue.sqlite", max_records, max_bytes, **kw)


def count_attempts(queue: LandingQueue, refused_before_signal: int) -> threading.Event:
    """Wrap the queue's insert attempt; the event is set once it has been refused n times."""
    refused = threading.Event()
    attempt = queue._try_insert
    refusals = 0

    def counting(envelope):
        nonlocal refusals
        outcome = attempt(envelope)
        if not isinstance(outcome, int):
            refusals += 1
            if refusals >= refused_before_signal:
                refused.set()
        return outcome

    queue._try_insert = counting  # type: ignore[method-assign]
    return refused


# --- bounds ----------------------------------------------------------------------------------


def test_record_bound_admits_exactly_up_to_the_bound(tmp_path: Path) -> None:
    with open_queue(tmp_path, max_records=10) as queue:
        assert queue.try_put(make_envelope(range(0, 6))) == 1
        assert queue.try_put(make_envelope(range(6, 11))) is None  # 6 + 5 > 10
        assert queue.try_put(make_envelope(range(11, 15))) == 2  # 6 + 4 == 10
        assert queue.try_put(make_envelope([15])) is None
        stats = queue.stats()
        assert (stats.depth_records, stats.depth_entries, stats.utilisation) == (10, 2, 1.0)
        assert stats.next_seq == 3  # refused puts consume no seq


def test_byte_bound_applies_when_reached_first(tmp_path: Path) -> None:
    small, big = make_envelope([1]), make_envelope([2, 3], pad=500)
    small_b, big_b = len(encode_envelope(small)), len(encode_envelope(big))
    with open_queue(tmp_path, max_records=1_000, max_bytes=small_b + big_b) as queue:
        assert queue.try_put(small) == 1
        assert queue.try_put(big) == 2  # exactly at the byte bound
        assert queue.try_put(make_envelope([4])) is None  # 3 records << 1,000, but no bytes left
        stats = queue.stats()
        assert (stats.bytes, stats.depth_records) == (small_b + big_b, 3)
        assert stats.utilisation == 1.0


def test_an_envelope_larger_than_a_bound_is_refused_with_figures(tmp_path: Path) -> None:
    with open_queue(tmp_path, max_records=10, max_bytes=3_000, compression=None) as queue:
        with pytest.raises(ValueError, match="envelope of 11 records > bound 10"):
            queue.put(make_envelope(range(11)))
        big = make_envelope(range(3), pad=2_000)
        size = len(encode_envelope(big, None))
        with pytest.raises(ValueError, match=f"envelope of {size:,} bytes > bound 3,000"):
            queue.try_put(big)
        with pytest.raises(ValueError, match="at least one reading"):
            queue.put(READING_SCHEMA.empty_table())
        assert queue.stats().depth_entries == 0


def test_put_timeout_raises_queue_full_with_the_figures(tmp_path: Path) -> None:
    with open_queue(tmp_path, max_records=10, put_poll_seconds=0.05) as queue:
        queue.put(make_envelope(range(8)))
        nbytes = queue.stats().bytes
        envelope = make_envelope(range(8, 13))
        with pytest.raises(QueueFull, match="8 \\+ 5 records > bound 10") as refused:
            queue.put(envelope, timeout=0.2)
        error = refused.value
        assert (error.depth_records, error.envelope_records, error.max_records) == (8, 5, 10)
        assert (error.bytes, error.envelope_bytes) == (nbytes, len(encode_envelope(envelope)))
        assert error.waited_seconds >= 0.2
        assert queue.stats().depth_records == 8


def test_envelope_columns_are_conformed_or_refused(tmp_path: Path) -> None:
    table = make_envelope([1, 2])
    reordered = table.select(list(reversed(table.column_names)))
    with open_queue(tmp_path) as queue:
        queue.put(reordered)
        assert queue.lease(10).readings.schema == READING_SCHEMA
        with pytest.raises(ValueError, match=r"missing columns \['crs'\]"):
            queue.put(table.drop_columns(["crs"]))
        mistyped = table.set_column(2, "value", pa.array(["1", "2"]))
        with pytest.raises(ValueError, match="value: string \\(expected double\\)"):
            queue.put(mistyped)


# --- blocking --------------------------------------------------------------------------------


def test_put_into_a_full_queue_blocks_until_an_ack_frees_room(tmp_path: Path) -> None:
    with open_queue(tmp_path, max_records=10, put_poll_seconds=0.01) as queue:
        queue.put(make_envelope(range(0, 5)))
        queue.put(make_envelope(range(5, 10)))
        lease = queue.lease(5)
        refused = count_attempts(queue, refused_before_signal=3)
        result: list[int] = []
        producer = threading.Thread(
            target=lambda: result.append(queue.put(make_envelope([10]), timeout=30)), daemon=True
        )
        producer.start()
        assert refused.wait(timeout=10)
        assert producer.is_alive() and not result  # still waiting after 3 refused attempts
        assert queue.stats().depth_records == 10
        assert queue.ack(lease.batch_id)
        producer.join(timeout=10)
        assert result == [3]
        assert queue.stats().depth_records == 6
        assert raw_view(queue.path).ids_by_seq == {2: list(range(5, 10)), 3: [10]}


def test_aput_waits_without_blocking_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_queue(tmp_path, max_records=10, put_poll_seconds=0.01) as queue:
        queue.put(make_envelope(range(10)))
        lease = queue.lease(10)
        refused = count_attempts(queue, refused_before_signal=3)

        def blocking_sleep(seconds: float) -> None:
            raise AssertionError(f"time.sleep({seconds}) would block the event loop")

        monkeypatch.setattr(time, "sleep", blocking_sleep)

        async def scenario() -> tuple[int, int]:
            put = asyncio.create_task(queue.aput(make_envelope([10]), timeout=30))
            ticks = 0
            while not (refused.is_set() or put.done()):  # this task runs while aput waits
                await asyncio.sleep(0.005)
                ticks += 1
            assert not put.done()
            assert queue.ack(lease.batch_id)
            return await put, ticks

        seq, ticks = asyncio.run(scenario())
        assert seq == 2 and ticks > 0
        assert reading_ids(queue.lease(10).readings) == [10]


def test_aput_timeout_raises_queue_full(tmp_path: Path) -> None:
    with open_queue(tmp_path, max_records=10, put_poll_seconds=0.02) as queue:
        assert asyncio.run(queue.aput(make_envelope(range(10)))) == 1
        with pytest.raises(QueueFull, match="10 \\+ 1 records > bound 10"):
            asyncio.run(queue.aput(make_envelope([10]), timeout=0.1))


# --- leases ----------------------------------------------------------------------------------


def test_leases_take_contiguous_ranges_up_to_max_records(tmp_path: Path) -> None:
    with open_queue(tmp_path, max_records=100) as queue:
        for first, n in ((0, 3), (3, 2), (5, 4), (9, 30)):
            queue.put(make_envelope(range(first, first + n)))
        a = queue.lease(5)  # 3 + 2 == 5: both
        b = queue.lease(3)  # the next entry alone has 4 > 3: taken anyway (at least one)
        c = queue.lease(1_000)
        assert queue.lease(1_000) is None
    assert (a.batch_id, a.records, reading_ids(a.readings)) == (
        "000000000001-000000000002",
        5,
        list(range(5)),
    )
    assert (b.batch_id, b.records) == ("000000000003-000000000003", 4)
    assert (c.batch_id, c.records, c.entries) == ("000000000004-000000000004", 30, 1)


def test_expired_and_released_leases_are_redelivered_first_with_the_same_range(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    with open_queue(tmp_path, max_records=100, lease_seconds=30, clock=clock) as queue:
        for k in range(4):
            queue.put(make_envelope(range(k * 5, k * 5 + 5)))
        first = queue.lease(10)
        second = queue.lease(5)
        assert first.expires_at == clock.now + 30
        clock.now += 29.9
        assert queue.stats().expired_batches == 0
        third = queue.lease(5)
        assert third.first_seq == 4  # nothing expired yet: a new range
        clock.now += 0.1  # first and second expire now; third lives on
        stats = queue.stats()
        assert (stats.expired_batches, stats.leased_batches, stats.unleased_records) == (2, 3, 0)
        again = queue.lease(1)  # redelivery ignores max_records: the range is fixed
        assert (again.batch_id, again.attempt, again.records) == (first.batch_id, 2, 10)
        assert reading_ids(again.readings) == reading_ids(first.readings)
        assert queue.lease(1).batch_id == second.batch_id
        assert queue.lease(100) is None
        assert queue.release(third.batch_id)
        released = queue.lease(100)
        assert (released.batch_id, released.attempt) == (third.batch_id, 2)
        assert queue.stats().redeliveries_total == 3


def test_ack_is_idempotent_and_frees_room(tmp_path: Path) -> None:
    clock = FakeClock()
    with open_queue(tmp_path, max_records=10, clock=clock) as queue:
        queue.put(make_envelope(range(10)))
        lease = queue.lease(10)
        assert queue.ack("000000000001-000000000009") is False
        clock.now += 5
        assert queue.ack(lease.batch_id) is True
        assert queue.ack(lease.batch_id) is False
        assert queue.release(lease.batch_id) is False
        stats = queue.stats()
        assert (stats.depth_records, stats.bytes, stats.leased_records) == (0, 0, 0)
        assert (stats.acked_batches_total, stats.acked_records_total) == (1, 10)
        assert (stats.last_acked_batch_id, stats.last_acked_at) == (lease.batch_id, clock.now)
        assert stats.oldest_age_seconds is None
        assert queue.try_put(make_envelope(range(10))) == 2


def test_sequence_numbers_are_never_reused_after_acks_and_reopen(tmp_path: Path) -> None:
    with open_queue(tmp_path) as queue:
        queue.put(make_envelope([1]))
        queue.put(make_envelope([2]))
        assert queue.ack(queue.lease(10).batch_id)
        path = queue.path
    with LandingQueue.open(path, 10, 2**30) as queue:
        assert queue.stats().depth_entries == 0
        assert queue.stats().next_seq == 3
        assert queue.put(make_envelope([3])) == 3
        assert queue.lease(10).batch_id == "000000000003-000000000003"


def test_stats_report_age_and_leases(tmp_path: Path) -> None:
    clock = FakeClock()
    with open_queue(tmp_path, max_records=20, max_bytes=10**6, clock=clock) as queue:
        queue.put(make_envelope(range(4)))
        clock.now += 7
        queue.put(make_envelope(range(4, 10)))
        clock.now += 3
        lease = queue.lease(4)
        stats = queue.stats()
    assert stats.oldest_age_seconds == 10
    assert lease.oldest_enqueued_at == clock.now - 10
    assert (stats.depth_records, stats.leased_records, stats.unleased_records) == (10, 4, 6)
    assert (stats.leased_batches, stats.leased_entries) == (1, 1)
    assert stats.utilisation == 10 / 20
    assert stats.has_work


def test_from_settings_creates_the_queue_under_data_dir(settings: Settings) -> None:
    with LandingQueue.from_settings(settings) as queue:
        assert queue.path == settings.data_dir / "landing" / "queue.sqlite"
        assert queue.path.exists()
        assert (queue.max_records, queue.max_bytes) == (200_000, 64 * 2**20)
        assert queue.put_poll_seconds == settings.queue_put_poll_seconds
        assert queue.lease_seconds == settings.queue_lease_seconds


def test_real_readings_round_trip(tmp_path: Path, source_data: Path) -> None:
    """One real air-quality file, melted to readings, in envelopes of 5,000, leased back whole."""
    readings = real_readings(source_data)
    with open(source_data / AIR_QUALITY_FILE, newline="") as f:
        cells = [row[1:] for row in csv.reader(f)][1:]
    assert readings.num_rows == sum(1 for row in cells for v in row if v != "")
    with open_queue(tmp_path, max_records=readings.num_rows) as queue:
        for start in range(0, readings.num_rows, 5_000):
            queue.put(readings.slice(start, 5_000), timeout=0)
        stats = queue.stats()
        lease = queue.lease(readings.num_rows)
    assert stats.depth_records == readings.num_rows
    assert stats.bytes < readings.nbytes / 3  # zstd on repetitive string columns
    assert lease.readings.equals(readings)
