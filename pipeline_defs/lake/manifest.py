"""The lake manifest: which raw micro-batches are committed, and which readings the lake holds.

One SQLite file beside the lake. It owns three promises:

- A batch id appears in ``batches`` at most once; a batch is *committed* exactly when its row
  exists. Readers list raw files through this table only, so a file written by a run that died
  before its commit is invisible, and the retry overwrites it.
- ``reading_keys`` holds every (sensor, parameter, event time) in the lake once. A batch lands
  only the readings whose key is new; the rest are counted as duplicates.
- ``commit_seq`` increases with every commit, so a sensor can keep "last commit seen" as its
  cursor and ask which event-time days the newer batches touched.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    batch_id      TEXT PRIMARY KEY,
    commit_seq    INTEGER NOT NULL UNIQUE,
    origin        TEXT NOT NULL,
    file          TEXT,
    records_in    INTEGER NOT NULL,
    landed        INTEGER NOT NULL,
    duplicates    INTEGER NOT NULL,
    bytes         INTEGER NOT NULL,
    min_event_us  INTEGER,
    max_event_us  INTEGER,
    committed_at  REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS batch_days (
    commit_seq INTEGER NOT NULL,
    day        TEXT NOT NULL,
    PRIMARY KEY (commit_seq, day)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS reading_keys (
    sensor_id     TEXT NOT NULL,
    parameter     TEXT NOT NULL,
    event_time_us INTEGER NOT NULL,
    PRIMARY KEY (sensor_id, parameter, event_time_us)
) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class BatchRecord:
    batch_id: str
    commit_seq: int
    origin: str
    file: str | None
    records_in: int
    landed: int
    duplicates: int
    bytes: int
    min_event_us: int | None
    max_event_us: int | None
    committed_at: float


@dataclass(frozen=True)
class LakeTotals:
    batches: int
    records_in: int
    landed: int
    duplicates: int
    bytes: int
    last_commit_seq: int


class LakeManifest:
    """Handle on the manifest database; cheap to open, safe to share between processes."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._conn = sqlite3.connect(path, timeout=60, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def write_transaction(self) -> Iterator[sqlite3.Connection]:
        """An exclusive write transaction: check-then-commit of a batch happens under one lock."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def batch(self, batch_id: str) -> BatchRecord | None:
        row = self._conn.execute(
            f"SELECT {_BATCH_COLUMNS} FROM batches WHERE batch_id = ?", (batch_id,)
        ).fetchone()
        return BatchRecord(*row) if row else None

    def batches(self, *, after_commit_seq: int = 0, limit: int | None = None) -> list[BatchRecord]:
        sql = f"SELECT {_BATCH_COLUMNS} FROM batches WHERE commit_seq > ? ORDER BY commit_seq"
        params: tuple = (after_commit_seq,)
        if limit is not None:
            sql += " LIMIT ?"
            params += (limit,)
        return [BatchRecord(*row) for row in self._conn.execute(sql, params)]

    def recent_batches(self, limit: int) -> list[BatchRecord]:
        rows = self._conn.execute(
            f"SELECT {_BATCH_COLUMNS} FROM batches ORDER BY commit_seq DESC LIMIT ?", (limit,)
        )
        return [BatchRecord(*row) for row in rows]

    def files_overlapping(self, start_us: int, end_us: int) -> list[str]:
        """Raw files of committed batches whose event-time span meets [start_us, end_us)."""
        rows = self._conn.execute(
            "SELECT file FROM batches WHERE file IS NOT NULL"
            " AND min_event_us < ? AND max_event_us >= ?"
            " ORDER BY commit_seq",
            (end_us, start_us),
        )
        return [file for (file,) in rows]

    def days_touched_after(self, commit_seq: int) -> tuple[list[str], int]:
        """Event-time days (YYYY-MM-DD, UTC) that batches committed after ``commit_seq`` landed
        readings on, and the newest commit_seq seen (the next cursor)."""
        (newest,) = self._conn.execute(
            "SELECT COALESCE(MAX(commit_seq), ?) FROM batches", (commit_seq,)
        ).fetchone()
        days = self._conn.execute(
            "SELECT DISTINCT day FROM batch_days WHERE commit_seq > ? AND commit_seq <= ?"
            " ORDER BY day",
            (commit_seq, newest),
        )
        return [day for (day,) in days], newest

    def totals(self) -> LakeTotals:
        row = self._conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(records_in), 0), COALESCE(SUM(landed), 0),"
            " COALESCE(SUM(duplicates), 0), COALESCE(SUM(bytes), 0), COALESCE(MAX(commit_seq), 0)"
            " FROM batches"
        ).fetchone()
        return LakeTotals(*row)

    def records_from(self, origin_prefix: str) -> int:
        """Readings offered by batches whose origin starts with ``origin_prefix`` ("spill:")."""
        (count,) = self._conn.execute(
            "SELECT COALESCE(SUM(records_in), 0) FROM batches WHERE origin LIKE ? || '%'",
            (origin_prefix,),
        ).fetchone()
        return count

    def key_count(self) -> int:
        (count,) = self._conn.execute("SELECT COUNT(*) FROM reading_keys").fetchone()
        return count


_BATCH_COLUMNS = (
    "batch_id, commit_seq, origin, file, records_in, landed, duplicates, bytes,"
    " min_event_us, max_event_us, committed_at"
)
