"""The landing queue's SQLite file: schema, connection settings, and the transaction helpers.

Owns the on-disk layout. Three tables:

- ``entries(seq, records, nbytes, enqueued_at, payload)`` — one row per envelope. ``seq`` is an
  ``INTEGER PRIMARY KEY AUTOINCREMENT``: strictly increasing, never reused even after deletes or a
  reopen (SQLite keeps the high-water mark in ``sqlite_sequence``). The payload is the last column
  so that scans of the metadata columns do not read the blob's overflow pages.
- ``leases(batch_id, first_seq, last_seq, ...)`` — one row per outstanding (un-acked) lease. Lease
  ranges never overlap, and every entry with ``seq <= stats.leased_through_seq`` is covered by
  exactly one lease, every entry above it by none.
- ``stats`` — a single row (id = 1) of counters kept equal to a recount of ``entries`` and
  ``leases``: every statement that changes those tables updates it in the same transaction, so a
  ``kill -9`` at any instant leaves both or neither changed.

Connections run in WAL mode with ``synchronous=FULL`` (a committed put survives power loss, not
just a process kill) and a busy timeout; every write is one ``BEGIN IMMEDIATE`` transaction, which
serialises writers across threads and processes. Deleted pages are reused, so the file's size is
bounded by the byte bound's high-water mark plus SQLite overhead.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    records     INTEGER NOT NULL CHECK (records > 0),
    nbytes      INTEGER NOT NULL CHECK (nbytes > 0),
    enqueued_at REAL    NOT NULL,
    payload     BLOB    NOT NULL
);
CREATE TABLE IF NOT EXISTS leases (
    batch_id           TEXT    PRIMARY KEY,
    first_seq          INTEGER NOT NULL,
    last_seq           INTEGER NOT NULL CHECK (last_seq >= first_seq),
    entries            INTEGER NOT NULL,
    records            INTEGER NOT NULL,
    nbytes             INTEGER NOT NULL,
    oldest_enqueued_at REAL    NOT NULL,
    leased_at          REAL    NOT NULL,
    expires_at         REAL    NOT NULL,
    attempt            INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS leases_by_expiry ON leases (expires_at, first_seq);
CREATE TABLE IF NOT EXISTS stats (
    id                   INTEGER PRIMARY KEY CHECK (id = 1),
    depth_records        INTEGER NOT NULL,
    depth_entries        INTEGER NOT NULL,
    bytes                INTEGER NOT NULL,
    leased_records       INTEGER NOT NULL,
    leased_entries       INTEGER NOT NULL,
    leased_batches       INTEGER NOT NULL,
    leased_through_seq   INTEGER NOT NULL,
    put_entries_total    INTEGER NOT NULL,
    put_records_total    INTEGER NOT NULL,
    acked_batches_total  INTEGER NOT NULL,
    acked_records_total  INTEGER NOT NULL,
    redeliveries_total   INTEGER NOT NULL,
    last_acked_batch_id  TEXT,
    last_acked_at        REAL
);
INSERT OR IGNORE INTO stats VALUES (1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, NULL, NULL);
"""


def connect(path: Path, busy_timeout_seconds: float) -> sqlite3.Connection:
    """Open (creating if needed) the queue file at ``path`` with the queue's pragmas and schema."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        path,
        timeout=busy_timeout_seconds,
        isolation_level=None,  # autocommit; transactions are explicit BEGIN IMMEDIATE ... COMMIT
        check_same_thread=False,  # LandingQueue serialises use of the connection with a lock
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_seconds * 1000)}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise RuntimeError(f"landing queue {path}: could not enable WAL (journal_mode={mode})")
        conn.execute("PRAGMA synchronous = FULL")
        with write_transaction(conn):
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise RuntimeError(
                    f"landing queue {path} has schema version {version}; "
                    f"this code reads version {SCHEMA_VERSION}"
                )
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        conn.close()
        raise
    return conn


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on any exception)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    try:
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # a failed COMMIT may leave the transaction open
            conn.execute("ROLLBACK")
        raise


@contextmanager
def read_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A deferred transaction: its reads see one consistent snapshot."""
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        conn.execute("COMMIT")
