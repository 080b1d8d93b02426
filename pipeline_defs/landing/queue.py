"""The landing queue: bounded, durable, at-least-once, shared by several processes.

``LandingQueue`` owns admission (the record and byte bounds), leases and acks. Producers ``put``
envelopes (1..N readings in ``READING_SCHEMA``); ingest runs ``lease`` a contiguous range of
entries, write it, and ``ack`` the lease's batch id; the Dagster sensor reads ``stats``.

Invariants (each holds after any sequence of calls, in any number of processes, and after a
``kill -9`` at any instant — every change is one SQLite ``BEGIN IMMEDIATE`` transaction):

- *Bounded*: ``depth_records <= max_records`` and ``bytes <= max_bytes``. A put is admitted only if
  ``depth + n <= max_records`` and ``bytes + b <= max_bytes`` — the first bound reached applies.
  Leased entries count in the depth until acked. An envelope that alone exceeds a bound is a
  ``ValueError``; a put that does not fit waits (``put``/``aput``) or is refused (``try_put``,
  ``QueueFull`` on timeout). Nothing is dropped.
- *Ordered and never reused*: each entry gets a sequence number greater than every number given
  before, in this file's whole life (deletes and reopens included).
- *At least once*: an entry leaves the queue only by an ``ack`` of the lease that covers it. A lease
  covers the contiguous seq range ``[first_seq, last_seq]`` and is named by it:
  ``batch_id = f"{first_seq:012d}-{last_seq:012d}"``. An expired (or released) lease is
  redelivered before anything new, with exactly the same range, hence the same batch id and rows
  (its ``attempt`` grows by one). Batch ids are therefore deterministic and unique for the life of
  the file, so a consumer whose write path is idempotent per batch id gets exactly-once effect.
- *Counters are exact*: the ``stats`` row equals a recount of ``entries``/``leases``, because each
  statement that changes them updates it in the same transaction. ``put`` and ``stats`` never scan.

Two clocks: the injectable ``clock`` (default ``time.time``) stamps entries and leases (enqueue
time, lease expiry, queue age); the waits of ``put``/``aput`` use real ``time.monotonic``, so a
test that freezes ``clock`` can still time out.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from pipeline_defs.landing.envelope import (
    DEFAULT_COMPRESSION,
    concat_envelopes,
    conform_envelope,
    encode_envelope,
)
from pipeline_defs.landing.store import connect, read_transaction, write_transaction

if TYPE_CHECKING:
    from pipeline_defs.settings import Settings

Clock = Callable[[], float]


def batch_id_for(first_seq: int, last_seq: int) -> str:
    """The deterministic batch id of the lease covering ``[first_seq, last_seq]``."""
    return f"{first_seq:012d}-{last_seq:012d}"


class QueueFull(Exception):
    """A put did not fit within its timeout. Carries the figures that refused it."""

    def __init__(
        self,
        *,
        envelope_records: int,
        envelope_bytes: int,
        depth_records: int,
        bytes: int,
        max_records: int,
        max_bytes: int,
        waited_seconds: float,
    ) -> None:
        self.envelope_records = envelope_records
        self.envelope_bytes = envelope_bytes
        self.depth_records = depth_records
        self.bytes = bytes
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.waited_seconds = waited_seconds
        over = []
        if depth_records + envelope_records > max_records:
            over.append(f"{depth_records:,} + {envelope_records:,} records > bound {max_records:,}")
        if bytes + envelope_bytes > max_bytes:
            over.append(f"{bytes:,} + {envelope_bytes:,} bytes > bound {max_bytes:,}")
        super().__init__(
            f"landing queue full after waiting {waited_seconds:.2f} s: {'; '.join(over)} "
            f"(depth {depth_records:,}/{max_records:,} records, {bytes:,}/{max_bytes:,} bytes)"
        )


@dataclass(frozen=True)
class QueueStats:
    """A consistent snapshot of the queue's counters (read from one row, no scans)."""

    depth_records: int  # readings in the queue, leased ones included
    depth_entries: int  # envelopes in the queue
    bytes: int  # stored payload bytes in the queue
    max_records: int
    max_bytes: int
    utilisation: float  # max(depth_records / max_records, bytes / max_bytes)
    oldest_age_seconds: float | None  # age of the lowest-seq entry; None if empty
    leased_records: int
    leased_entries: int
    leased_batches: int  # outstanding (un-acked) leases, expired ones included
    expired_batches: int  # leases past their expiry: the next lease() redelivers them
    unleased_records: int  # readings no lease covers yet
    next_seq: int  # the seq the next put will get
    put_entries_total: int
    put_records_total: int
    acked_batches_total: int
    acked_records_total: int
    redeliveries_total: int
    last_acked_batch_id: str | None
    last_acked_at: float | None

    @property
    def has_work(self) -> bool:
        """True if ``lease()`` would return something now (new entries or an expired lease)."""
        return self.unleased_records > 0 or self.expired_batches > 0


@dataclass(frozen=True)
class Lease:
    """A leased contiguous range of entries and its readings; ack with ``queue.ack(batch_id)``."""

    batch_id: str
    first_seq: int
    last_seq: int
    entries: int
    records: int
    nbytes: int
    attempt: int  # 1 on first delivery, +1 on each redelivery
    oldest_enqueued_at: float
    expires_at: float
    readings: pa.Table = field(repr=False, compare=False)  # READING_SCHEMA, in seq order


@dataclass(frozen=True)
class _Envelope:
    records: int
    payload: bytes

    @property
    def nbytes(self) -> int:
        return len(self.payload)


@dataclass(frozen=True)
class _Refused:
    depth_records: int
    bytes: int


_LEASE_COLUMNS = (
    "batch_id, first_seq, last_seq, entries, records, nbytes, attempt, oldest_enqueued_at, "
    "expires_at"
)

# The new range: entries above the leased-through mark, in seq order, while the running record
# total stays <= :max (and always the first one). Each entry holds >= 1 record, so at most :max
# entries can qualify and the inner LIMIT bounds the scan.
_NEXT_RANGE_SQL = """
SELECT COUNT(*), MIN(seq), MAX(seq), SUM(records), SUM(nbytes), MIN(enqueued_at)
FROM (
    SELECT seq, records, nbytes, enqueued_at, SUM(records) OVER (ORDER BY seq) AS running
    FROM (
        SELECT seq, records, nbytes, enqueued_at FROM entries
        WHERE seq > :through ORDER BY seq LIMIT :max
    )
)
WHERE running <= :max OR running = records
"""


class LandingQueue:
    """A bounded, durable, at-least-once queue of reading envelopes in one SQLite file.

    One instance holds one connection and may be shared by threads; several processes may open
    the same file at once. Open with ``LandingQueue.open(...)`` or ``LandingQueue.from_settings``;
    close with ``close()`` or a ``with`` block.
    """

    def __init__(
        self,
        path: Path | str,
        max_records: int,
        max_bytes: int,
        lease_seconds: float = 300.0,
        *,
        put_poll_seconds: float = 0.2,
        clock: Clock = time.time,
        busy_timeout_seconds: float = 30.0,
        compression: str | None = DEFAULT_COMPRESSION,
    ) -> None:
        for name, value in (
            ("max_records", max_records),
            ("max_bytes", max_bytes),
            ("lease_seconds", lease_seconds),
            ("put_poll_seconds", put_poll_seconds),
            ("busy_timeout_seconds", busy_timeout_seconds),
        ):
            if value <= 0:
                raise ValueError(f"landing queue {name} must be > 0, got {value}")
        self.path = Path(path)
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.lease_seconds = lease_seconds
        self.put_poll_seconds = put_poll_seconds
        self.compression = compression
        self._clock = clock
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = connect(self.path, busy_timeout_seconds)

    @classmethod
    def open(
        cls,
        path: Path | str,
        max_records: int,
        max_bytes: int,
        lease_seconds: float = 300.0,
        *,
        put_poll_seconds: float = 0.2,
        clock: Clock = time.time,
        busy_timeout_seconds: float = 30.0,
        compression: str | None = DEFAULT_COMPRESSION,
    ) -> LandingQueue:
        """Open (creating it and its parent folders if needed) the queue file at ``path``."""
        return cls(
            path,
            max_records,
            max_bytes,
            lease_seconds,
            put_poll_seconds=put_poll_seconds,
            clock=clock,
            busy_timeout_seconds=busy_timeout_seconds,
            compression=compression,
        )

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = time.time) -> LandingQueue:
        """The queue at ``settings.queue_path`` with the bounds and timings of ``settings``."""
        return cls(
            settings.queue_path,
            settings.queue_max_records,
            settings.queue_max_bytes,
            settings.queue_lease_seconds,
            put_poll_seconds=settings.queue_put_poll_seconds,
            clock=clock,
        )

    # --- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> LandingQueue:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"LandingQueue({str(self.path)!r}, max_records={self.max_records:,}, "
            f"max_bytes={self.max_bytes:,}, lease_seconds={self.lease_seconds})"
        )

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError(f"landing queue {self.path} is closed")
        return self._conn

    # --- producing ---------------------------------------------------------------------------

    def put(self, table: pa.Table, timeout: float | None = None) -> int:
        """Enqueue ``table`` as one envelope and return its seq; wait while the queue is full.

        Polls every ``put_poll_seconds``. Raises ``QueueFull`` once ``timeout`` seconds have passed
        (``None``: wait for ever; ``0``: one try), ``ValueError`` if the envelope alone exceeds a
        bound or is not a non-empty ``READING_SCHEMA`` table.
        """
        envelope = self._envelope(table)
        started = time.monotonic()
        while True:
            outcome = self._try_insert(envelope)
            if isinstance(outcome, int):
                return outcome
            delay = self._next_delay(envelope, outcome, started, timeout)
            time.sleep(delay)

    def try_put(self, table: pa.Table) -> int | None:
        """Enqueue ``table`` if it fits now and return its seq; ``None`` if the queue is full."""
        outcome = self._try_insert(self._envelope(table))
        return outcome if isinstance(outcome, int) else None

    async def aput(self, table: pa.Table, timeout: float | None = None) -> int:
        """``put`` for asyncio code: encoding and each attempt run in a worker thread, and the
        waits are ``asyncio.sleep``, so the event loop is never blocked.

        If the task is cancelled while an attempt is running, that attempt still completes (the
        envelope may be in the queue); the cancellation is raised after it.
        """
        envelope = await asyncio.to_thread(self._envelope, table)
        started = time.monotonic()
        while True:
            outcome = await asyncio.to_thread(self._try_insert, envelope)
            if isinstance(outcome, int):
                return outcome
            delay = self._next_delay(envelope, outcome, started, timeout)
            await asyncio.sleep(delay)

    def _envelope(self, table: pa.Table) -> _Envelope:
        table = conform_envelope(table)
        if table.num_rows > self.max_records:
            raise ValueError(
                f"envelope of {table.num_rows:,} records > bound {self.max_records:,}"
                f" (queue {self.path})"
            )
        payload = encode_envelope(table, self.compression)
        if len(payload) > self.max_bytes:
            raise ValueError(
                f"envelope of {len(payload):,} bytes > bound {self.max_bytes:,}"
                f" ({table.num_rows:,} records; queue {self.path})"
            )
        return _Envelope(table.num_rows, payload)

    def _next_delay(
        self, envelope: _Envelope, refused: _Refused, started: float, timeout: float | None
    ) -> float:
        """Seconds to wait before the next attempt, or raise ``QueueFull`` if time is up."""
        waited = time.monotonic() - started
        if timeout is None:
            return self.put_poll_seconds
        if waited >= timeout:
            raise QueueFull(
                envelope_records=envelope.records,
                envelope_bytes=envelope.nbytes,
                depth_records=refused.depth_records,
                bytes=refused.bytes,
                max_records=self.max_records,
                max_bytes=self.max_bytes,
                waited_seconds=waited,
            )
        return min(self.put_poll_seconds, timeout - waited)

    def _try_insert(self, envelope: _Envelope) -> int | _Refused:
        with self._lock:
            conn = self._connection()
            with write_transaction(conn):
                depth, nbytes = conn.execute(
                    "SELECT depth_records, bytes FROM stats WHERE id = 1"
                ).fetchone()
                if (
                    depth + envelope.records > self.max_records
                    or nbytes + envelope.nbytes > self.max_bytes
                ):
                    return _Refused(depth, nbytes)
                seq = conn.execute(
                    "INSERT INTO entries (records, nbytes, enqueued_at, payload) VALUES (?,?,?,?)",
                    (envelope.records, envelope.nbytes, self._clock(), envelope.payload),
                ).lastrowid
                conn.execute(
                    "UPDATE stats SET depth_records = depth_records + :n,"
                    " depth_entries = depth_entries + 1, bytes = bytes + :b,"
                    " put_entries_total = put_entries_total + 1,"
                    " put_records_total = put_records_total + :n WHERE id = 1",
                    {"n": envelope.records, "b": envelope.nbytes},
                )
                assert seq is not None
                return seq

    # --- consuming ---------------------------------------------------------------------------

    def lease(self, max_records: int, lease_seconds: float | None = None) -> Lease | None:
        """Lease the next batch, or ``None`` if there is nothing to lease.

        The oldest expired (or released) lease comes first, redelivered with exactly its range
        (``max_records`` does not apply to it). Otherwise a new lease takes entries from the
        lowest unleased seq while the record total stays ``<= max_records`` — always at least one
        entry, even one larger than ``max_records``. The lease expires ``lease_seconds`` (default:
        the queue's) after now by the queue's clock.
        """
        if max_records <= 0:
            raise ValueError(f"lease max_records must be > 0, got {max_records}")
        duration = self.lease_seconds if lease_seconds is None else lease_seconds
        if duration <= 0:
            raise ValueError(f"lease_seconds must be > 0, got {duration}")
        with self._lock:
            conn = self._connection()
            with write_transaction(conn):
                now = self._clock()
                row = self._redeliver(conn, now, duration)
                if row is None:
                    row = self._lease_new(conn, now, duration, max_records)
                if row is None:
                    return None
                payloads = self._payloads(conn, row)
        return _lease_from_row(row, payloads)

    def get_lease(self, batch_id: str) -> Lease | None:
        """The outstanding lease ``batch_id`` with its readings, or ``None`` if it is not
        outstanding (already acked, or never leased). Changes nothing: the process that runs a
        batch leased by another (the Dagster sensor leases, the ingest run writes) reads it here.
        """
        with self._lock:
            conn = self._connection()
            with read_transaction(conn):
                row = conn.execute(
                    f"SELECT {_LEASE_COLUMNS} FROM leases WHERE batch_id = ?",
                    (batch_id,),
                ).fetchone()
                if row is None:
                    return None
                payloads = self._payloads(conn, row)
        return _lease_from_row(row, payloads)

    def _redeliver(self, conn: sqlite3.Connection, now: float, duration: float) -> tuple | None:
        expired = conn.execute(
            "SELECT batch_id FROM leases WHERE expires_at <= ? ORDER BY first_seq LIMIT 1", (now,)
        ).fetchone()
        if expired is None:
            return None
        conn.execute(
            "UPDATE leases SET attempt = attempt + 1, leased_at = ?, expires_at = ?"
            " WHERE batch_id = ?",
            (now, now + duration, expired[0]),
        )
        conn.execute("UPDATE stats SET redeliveries_total = redeliveries_total + 1 WHERE id = 1")
        return conn.execute(
            f"SELECT {_LEASE_COLUMNS} FROM leases WHERE batch_id = ?", expired
        ).fetchone()

    def _lease_new(
        self, conn: sqlite3.Connection, now: float, duration: float, max_records: int
    ) -> tuple | None:
        (through,) = conn.execute("SELECT leased_through_seq FROM stats WHERE id = 1").fetchone()
        entries, first, last, records, nbytes, oldest = conn.execute(
            _NEXT_RANGE_SQL, {"through": through, "max": max_records}
        ).fetchone()
        if entries == 0:
            return None
        row = (batch_id_for(first, last), first, last, entries, records, nbytes, 1, oldest)
        conn.execute(
            f"INSERT INTO leases ({_LEASE_COLUMNS}, leased_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (*row, now + duration, now),
        )
        conn.execute(
            "UPDATE stats SET leased_records = leased_records + ?,"
            " leased_entries = leased_entries + ?, leased_batches = leased_batches + 1,"
            " leased_through_seq = ? WHERE id = 1",
            (records, entries, last),
        )
        return (*row, now + duration)

    def _payloads(self, conn: sqlite3.Connection, row: tuple) -> list[bytes]:
        batch_id, first, last, entries, records = row[:5]
        found = conn.execute(
            "SELECT records, payload FROM entries WHERE seq BETWEEN ? AND ? ORDER BY seq",
            (first, last),
        ).fetchall()
        found_records = sum(r for r, _ in found)
        if len(found) != entries or found_records != records:
            raise RuntimeError(
                f"landing queue {self.path}: lease {batch_id} should cover {entries:,} entries"
                f" / {records:,} records but the file holds {len(found):,} / {found_records:,}"
            )
        return [payload for _, payload in found]

    def ack(self, batch_id: str) -> bool:
        """Delete the lease's entries and the lease, in one transaction.

        Returns False (and changes nothing) if no such lease is outstanding: already acked, never
        leased, or unknown. An expired lease that was not yet redelivered can still be acked.
        """
        with self._lock:
            conn = self._connection()
            with write_transaction(conn):
                row = conn.execute(
                    "SELECT first_seq, last_seq, entries, records, nbytes FROM leases"
                    " WHERE batch_id = ?",
                    (batch_id,),
                ).fetchone()
                if row is None:
                    return False
                first, last, entries, records, nbytes = row
                deleted = conn.execute(
                    "DELETE FROM entries WHERE seq BETWEEN ? AND ?", (first, last)
                ).rowcount
                if deleted != entries:
                    raise RuntimeError(
                        f"landing queue {self.path}: ack {batch_id} would delete {deleted:,}"
                        f" entries, the lease covers {entries:,}; nothing changed"
                    )
                conn.execute("DELETE FROM leases WHERE batch_id = ?", (batch_id,))
                conn.execute(
                    "UPDATE stats SET depth_records = depth_records - :r,"
                    " depth_entries = depth_entries - :e, bytes = bytes - :b,"
                    " leased_records = leased_records - :r, leased_entries = leased_entries - :e,"
                    " leased_batches = leased_batches - 1,"
                    " acked_batches_total = acked_batches_total + 1,"
                    " acked_records_total = acked_records_total + :r,"
                    " last_acked_batch_id = :id, last_acked_at = :now WHERE id = 1",
                    {
                        "r": records,
                        "e": entries,
                        "b": nbytes,
                        "id": batch_id,
                        "now": self._clock(),
                    },
                )
                return True

    def release(self, batch_id: str) -> bool:
        """Make an outstanding lease redeliverable now (same range). False if there is none."""
        with self._lock:
            conn = self._connection()
            with write_transaction(conn):
                now = self._clock()
                return (
                    conn.execute(
                        "UPDATE leases SET expires_at = MIN(expires_at, ?) WHERE batch_id = ?",
                        (now, batch_id),
                    ).rowcount
                    > 0
                )

    # --- observing ---------------------------------------------------------------------------

    def stats(self) -> QueueStats:
        """The counters: the stats row plus indexed look-ups (lowest seq, expired leases)."""
        with self._lock:
            conn = self._connection()
            with read_transaction(conn):
                now = self._clock()
                counters = conn.execute(
                    "SELECT depth_records, depth_entries, bytes, leased_records, leased_entries,"
                    " leased_batches, put_entries_total, put_records_total, acked_batches_total,"
                    " acked_records_total, redeliveries_total, last_acked_batch_id, last_acked_at"
                    " FROM stats WHERE id = 1"
                ).fetchone()
                oldest = conn.execute(
                    "SELECT enqueued_at FROM entries ORDER BY seq LIMIT 1"
                ).fetchone()
                (expired,) = conn.execute(
                    "SELECT COUNT(*) FROM leases WHERE expires_at <= ?", (now,)
                ).fetchone()
                last_seq = conn.execute(
                    "SELECT seq FROM sqlite_sequence WHERE name = 'entries'"
                ).fetchone()
        (depth, entries, nbytes, leased, leased_entries, leased_batches, *totals) = counters
        put_entries, put_records, acked_batches, acked_records, redeliveries = totals[:5]
        last_acked_batch_id, last_acked_at = totals[5:]
        return QueueStats(
            depth_records=depth,
            depth_entries=entries,
            bytes=nbytes,
            max_records=self.max_records,
            max_bytes=self.max_bytes,
            utilisation=max(depth / self.max_records, nbytes / self.max_bytes),
            oldest_age_seconds=None if oldest is None else max(0.0, now - oldest[0]),
            leased_records=leased,
            leased_entries=leased_entries,
            leased_batches=leased_batches,
            expired_batches=expired,
            unleased_records=depth - leased,
            next_seq=(last_seq[0] if last_seq else 0) + 1,
            put_entries_total=put_entries,
            put_records_total=put_records,
            acked_batches_total=acked_batches,
            acked_records_total=acked_records,
            redeliveries_total=redeliveries,
            last_acked_batch_id=last_acked_batch_id,
            last_acked_at=last_acked_at,
        )


def _lease_from_row(row: tuple, payloads: list[bytes]) -> Lease:
    (batch_id, first, last, entries, records, nbytes, attempt, oldest, expires) = row
    return Lease(
        batch_id=batch_id,
        first_seq=first,
        last_seq=last,
        entries=entries,
        records=records,
        nbytes=nbytes,
        attempt=attempt,
        oldest_enqueued_at=oldest,
        expires_at=expires,
        readings=concat_envelopes(payloads),
    )
