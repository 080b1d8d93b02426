"""Model-based test of LandingQueue: random operations against a plain-Python model.

After every step the queue must agree with the model (depth, bytes, leases), stay within its
bounds, hold every put reading either in the file or acked exactly once, and have counters equal to
a raw recount of the file. Leases are predicted exactly: redelivery of the oldest expired lease
with the same range, batch id and rows, else the greedy range from the lowest unleased seq.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from pipeline_defs.landing import LandingQueue, QueueFull, batch_id_for, encode_envelope
from tests.landing.helpers import make_envelope, raw_view, reading_ids

MAX_RECORDS = 16
LEASE_SECONDS = 10.0
# Uncompressed payloads are 1.4 kB + ~1.2 x pad per reading: mostly small envelopes, so that the
# record bound binds first, sometimes large ones, so that the byte bound does; 4-5 readings of the
# largest pad exceed the byte bound alone.
PADS = st.sampled_from((0, 0, 0, 0, 300, 300, 1_500, 4_000))
MAX_BYTES = 18_000


@dataclass
class ModelEntry:
    records: int
    nbytes: int
    ids: list[int]


@dataclass
class ModelLease:
    first: int
    last: int
    ids: list[int]
    attempt: int
    expires_at: float


class LandingQueueMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="landing-model-"))
        self.path = self.folder / "q" / "queue.sqlite"
        self.now = 1_000_000.0
        self.entries: dict[int, ModelEntry] = {}
        self.leases: dict[str, ModelLease] = {}
        self.leased_through = 0
        self.last_seq = 0
        self.next_id = 0
        self.put_ids: set[int] = set()
        self.acked: Counter[int] = Counter()
        self.acked_batches: list[str] = []
        self.max_bytes = MAX_BYTES
        self.queue = self._open()

    def _open(self) -> LandingQueue:
        return LandingQueue.open(
            self.path,
            MAX_RECORDS,
            self.max_bytes,
            LEASE_SECONDS,
            clock=lambda: self.now,
            compression=None,
            put_poll_seconds=0.001,
        )

    def teardown(self) -> None:
        self.queue.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    # --- helpers ---------------------------------------------------------------------------

    def _new_envelope(self, n: int, pad: int):
        ids = list(range(self.next_id, self.next_id + n))
        self.next_id += n
        table = make_envelope(ids, pad)
        return ids, table, len(encode_envelope(table, None))

    def _depth(self) -> tuple[int, int]:
        return (
            sum(e.records for e in self.entries.values()),
            sum(e.nbytes for e in self.entries.values()),
        )

    def _fits(self, n: int, nbytes: int) -> bool:
        depth, size = self._depth()
        return depth + n <= MAX_RECORDS and size + nbytes <= self.max_bytes

    def _admitted(self, seq: int, ids: list[int], nbytes: int) -> None:
        assert seq > self.last_seq, f"seq {seq} after {self.last_seq}"
        self.last_seq = seq
        self.entries[seq] = ModelEntry(len(ids), nbytes, ids)
        self.put_ids.update(ids)

    # --- rules -----------------------------------------------------------------------------

    @initialize()
    def start_empty(self) -> None:
        assert self.queue.stats().depth_records == 0

    @rule(n=st.integers(1, 5), pad=PADS)
    def put(self, n: int, pad: int) -> None:
        ids, table, nbytes = self._new_envelope(n, pad)
        if nbytes > self.max_bytes:
            with pytest.raises(ValueError, match=f"envelope of {nbytes:,} bytes > bound"):
                self.queue.put(table, timeout=0)
        elif self._fits(n, nbytes):
            self._admitted(self.queue.put(table, timeout=0), ids, nbytes)
        else:
            depth, size = self._depth()
            with pytest.raises(QueueFull) as refused:
                self.queue.put(table, timeout=0)
            error = refused.value
            assert (error.depth_records, error.bytes) == (depth, size)
            assert (error.envelope_records, error.envelope_bytes) == (n, nbytes)

    @rule(n=st.integers(1, 5), pad=PADS)
    def try_put(self, n: int, pad: int) -> None:
        ids, table, nbytes = self._new_envelope(n, pad)
        if nbytes > self.max_bytes:
            with pytest.raises(ValueError, match=f"envelope of {nbytes:,} bytes > bound"):
                self.queue.try_put(table)
            return
        seq = self.queue.try_put(table)
        if self._fits(n, nbytes):
            assert seq is not None
            self._admitted(seq, ids, nbytes)
        else:
            assert seq is None

    @rule(max_records=st.one_of(st.integers(1, 6), st.just(2 * MAX_RECORDS)))
    def lease(self, max_records: int) -> None:
        expected = self._predict_lease(max_records)
        lease = self.queue.lease(max_records)
        if expected is None:
            assert lease is None
            return
        batch_id, model = expected
        assert lease is not None
        assert (lease.batch_id, lease.first_seq, lease.last_seq) == (
            batch_id,
            model.first,
            model.last,
        )
        assert lease.attempt == model.attempt
        assert reading_ids(lease.readings) == model.ids  # same rows, same order on redelivery
        assert lease.records == len(model.ids)
        assert lease.expires_at == self.now + LEASE_SECONDS

    def _predict_lease(self, max_records: int) -> tuple[str, ModelLease] | None:
        expired = [b for b, m in self.leases.items() if m.expires_at <= self.now]
        if expired:
            batch_id = min(expired, key=lambda b: self.leases[b].first)
            model = self.leases[batch_id]
            model.attempt += 1
            model.expires_at = self.now + LEASE_SECONDS
            return batch_id, model
        taken: list[int] = []
        total = 0
        for seq in sorted(s for s in self.entries if s > self.leased_through):
            if taken and total + self.entries[seq].records > max_records:
                break
            taken.append(seq)
            total += self.entries[seq].records
        if not taken:
            return None
        ids = [i for s in taken for i in self.entries[s].ids]
        model = ModelLease(taken[0], taken[-1], ids, 1, self.now + LEASE_SECONDS)
        batch_id = batch_id_for(taken[0], taken[-1])
        self.leases[batch_id] = model
        self.leased_through = taken[-1]
        return batch_id, model

    @precondition(lambda self: self.leases)
    @rule(data=st.data())
    def ack(self, data: st.DataObject) -> None:
        batch_id = data.draw(st.sampled_from(sorted(self.leases)))
        model = self.leases.pop(batch_id)
        assert self.queue.ack(batch_id) is True
        for seq in [s for s in self.entries if model.first <= s <= model.last]:
            del self.entries[seq]
        self.acked.update(model.ids)
        self.acked_batches.append(batch_id)
        assert self.queue.ack(batch_id) is False  # idempotent

    @rule(data=st.data())
    def ack_stale(self, data: st.DataObject) -> None:
        unknown = batch_id_for(self.last_seq + 1, self.last_seq + 7)
        batch_id = data.draw(st.sampled_from([unknown, *self.acked_batches]))
        assert self.queue.ack(batch_id) is False
        assert self.queue.release(batch_id) is False

    @precondition(lambda self: self.leases)
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        batch_id = data.draw(st.sampled_from(sorted(self.leases)))
        assert self.queue.release(batch_id) is True
        model = self.leases[batch_id]
        model.expires_at = min(model.expires_at, self.now)

    @rule(seconds=st.sampled_from([1.0, LEASE_SECONDS / 2, LEASE_SECONDS]))
    def advance_clock(self, seconds: float) -> None:
        self.now += seconds

    @rule()
    def close_and_reopen(self) -> None:
        self.queue.close()
        self.queue = self._open()

    # --- invariants ------------------------------------------------------------------------

    @invariant()
    def counters_match_model_and_bounds(self) -> None:
        stats = self.queue.stats()
        depth, size = self._depth()
        leased = [e for s, e in self.entries.items() if s <= self.leased_through]
        assert (stats.depth_records, stats.bytes, stats.depth_entries) == (
            depth,
            size,
            len(self.entries),
        )
        assert stats.depth_records <= MAX_RECORDS and stats.bytes <= self.max_bytes
        assert stats.leased_records == sum(e.records for e in leased)
        assert stats.leased_batches == len(self.leases)
        assert stats.expired_batches == sum(m.expires_at <= self.now for m in self.leases.values())
        assert stats.next_seq == self.last_seq + 1  # refused puts consume no seq

    @invariant()
    def every_reading_queued_or_acked_once(self) -> None:
        raw = raw_view(self.path)
        assert raw.recount == raw.stats_row
        held = raw.id_counts
        assert all(c == 1 for c in held.values())
        assert all(c == 1 for c in self.acked.values())
        assert not (held.keys() & self.acked.keys())
        assert held.keys() | self.acked.keys() == self.put_ids
        assert {s: e.ids for s, e in self.entries.items()} == raw.ids_by_seq


LandingQueueMachine.TestCase.settings = settings(
    max_examples=50,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLandingQueueModel = LandingQueueMachine.TestCase
