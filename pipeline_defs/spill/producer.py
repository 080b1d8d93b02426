"""The spilling producer: admit readings to the landing queue, or to a spill segment, never drop.

Owns the admission order for one table of readings (``put``; ``aput`` for asyncio code):

1. *memory pressure*: while the ``MemoryGuard`` says paused, wait (re-checking every
   ``poll_seconds``). The guard acts: intake stops, it does not merely set a flag;
2. *queue*: ``queue.put(table, timeout=spill_after_seconds)`` — the normal path;
3. *spill*: on ``QueueFull`` write the table as one durable spill segment;
4. *both full*: on ``SpillFull`` go back to 2 and keep alternating (queue, then spill) until one
   admits the table. The caller blocks; nothing is dropped.

Invariants: each call admits its table exactly once, to exactly one place, and returns where.
``counters`` satisfy ``offered_records == queued_records + spilled_records`` whenever no call is in
flight. A ``ValueError`` (empty table, wrong schema, larger than a bound on its own) admits nothing.

An admission is durable before it is counted and before ``put`` returns; the ``on_step`` observer
("queued" / "spilled") is called in between, so crash tests can kill the process exactly there.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum

import pyarrow as pa

from pipeline_defs.landing.queue import LandingQueue, QueueFull
from pipeline_defs.pressure.memory_guard import MemoryGuard, PressureState
from pipeline_defs.spill.segments import SegmentInfo, SpillFull, SpillStore

StepObserver = Callable[[str], None]


class Admission(StrEnum):
    QUEUED = "queued"
    SPILLED = "spilled"


@dataclass(frozen=True)
class ProducerCounters:
    """Totals since the producer was created (a snapshot; see ``SpillingProducer.counters``)."""

    offered_records: int = 0
    queued_records: int = 0
    queued_envelopes: int = 0
    spilled_records: int = 0
    spilled_segments: int = 0
    spill_full_retries: int = 0  # times the spill refused (budget) while the queue was full
    blocked_seconds: float = 0.0  # waiting with both queue and spill full
    paused_seconds: float = 0.0  # waiting for the memory guard to resume
    paused_waits: int = 0  # calls that found the guard paused and waited


class SpillingProducer:
    """Admit tables to ``queue``, spilling to ``spill`` when the queue stays full (see module).

    Thread-safe: several threads (or tasks, with ``aput``) may share one producer.
    """

    def __init__(
        self,
        queue: LandingQueue,
        spill: SpillStore,
        spill_after_seconds: float,
        guard: MemoryGuard | None = None,
        poll_seconds: float = 0.2,
        *,
        on_step: StepObserver | None = None,
    ) -> None:
        if spill_after_seconds < 0:
            raise ValueError(f"spill_after_seconds must be ≥ 0, got {spill_after_seconds}")
        if poll_seconds <= 0:
            raise ValueError(f"poll_seconds must be > 0, got {poll_seconds}")
        self.queue = queue
        self.spill = spill
        self.spill_after_seconds = spill_after_seconds
        self.guard = guard
        self.poll_seconds = poll_seconds
        self._on_step = on_step
        self._lock = threading.Lock()
        self._counters = ProducerCounters()
        self.last_segment: SegmentInfo | None = None
        self.last_pressure: PressureState | None = None

    @property
    def counters(self) -> ProducerCounters:
        with self._lock:
            return self._counters

    def put(self, table: pa.Table) -> Admission:
        """Admit ``table`` to the queue or the spill; block while paused or while both are full."""
        self._wait_while_paused()
        blocked_since: float | None = None
        timeout = self.spill_after_seconds
        while True:
            try:
                self.queue.put(table, timeout=timeout)
            except QueueFull:
                pass
            else:
                return self._admitted(Admission.QUEUED, table, None, blocked_since)
            try:
                segment = self.spill.write(table)
            except SpillFull:
                blocked_since = self._refused(blocked_since)
                timeout = max(self.spill_after_seconds, self.poll_seconds)
                continue
            return self._admitted(Admission.SPILLED, table, segment, blocked_since)

    async def aput(self, table: pa.Table) -> Admission:
        """``put`` for asyncio code: guard checks and spill writes run in worker threads, queue
        waits use ``LandingQueue.aput``, so the event loop is never blocked."""
        await self._await_resume()
        blocked_since: float | None = None
        timeout = self.spill_after_seconds
        while True:
            try:
                await self.queue.aput(table, timeout=timeout)
            except QueueFull:
                pass
            else:
                return self._admitted(Admission.QUEUED, table, None, blocked_since)
            try:
                segment = await asyncio.to_thread(self.spill.write, table)
            except SpillFull:
                blocked_since = self._refused(blocked_since)
                timeout = max(self.spill_after_seconds, self.poll_seconds)
                continue
            return self._admitted(Admission.SPILLED, table, segment, blocked_since)

    # --- internals ---------------------------------------------------------------------------

    def _wait_while_paused(self) -> None:
        if self.guard is None:
            return
        started = None
        while self._check_paused():
            started = time.monotonic() if started is None else started
            time.sleep(self.poll_seconds)
        self._resumed(started)

    async def _await_resume(self) -> None:
        if self.guard is None:
            return
        started = None
        while await asyncio.to_thread(self._check_paused):
            started = time.monotonic() if started is None else started
            await asyncio.sleep(self.poll_seconds)
        self._resumed(started)

    def _check_paused(self) -> bool:
        state = self.guard.check()
        self.last_pressure = state
        return state.paused

    def _resumed(self, paused_since: float | None) -> None:
        if paused_since is None:
            return
        waited = time.monotonic() - paused_since
        with self._lock:
            c = self._counters
            self._counters = replace(
                c, paused_seconds=c.paused_seconds + waited, paused_waits=c.paused_waits + 1
            )

    def _refused(self, blocked_since: float | None) -> float:
        with self._lock:
            c = self._counters
            self._counters = replace(c, spill_full_retries=c.spill_full_retries + 1)
        return time.monotonic() if blocked_since is None else blocked_since

    def _admitted(
        self,
        admission: Admission,
        table: pa.Table,
        segment: SegmentInfo | None,
        blocked_since: float | None,
    ) -> Admission:
        if self._on_step is not None:
            self._on_step(admission.value)
        blocked = 0.0 if blocked_since is None else time.monotonic() - blocked_since
        n = table.num_rows
        with self._lock:
            c = self._counters
            if admission is Admission.QUEUED:
                c = replace(
                    c, queued_records=c.queued_records + n, queued_envelopes=c.queued_envelopes + 1
                )
            else:
                c = replace(
                    c,
                    spilled_records=c.spilled_records + n,
                    spilled_segments=c.spilled_segments + 1,
                )
                self.last_segment = segment
            self._counters = replace(
                c,
                offered_records=c.offered_records + n,
                blocked_seconds=c.blocked_seconds + blocked,
            )
        return admission
