"""Raw micro-batches: the one write path from the landing queue (and spill replay) into the lake.

Promise: committing the same batch id again, or retrying after a crash at any step, leaves the
lake as one successful commit would. The steps are

1. under the manifest's write lock, skip the batch if its id is already committed;
2. collapse duplicate keys (sensor, parameter, event time) inside the batch and against the lake;
3. write the new readings to ``raw/<batch id>.parquet`` atomically (temp + fsync + rename);
4. record the keys, the batch row and the days it touched in one manifest transaction.

Only then may the caller ack the queue. A crash after 3 leaves an unlisted file that the retry
overwrites; a crash after 4 makes the retry a no-op that only acks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline_defs.lake.atomic import atomic_write
from pipeline_defs.lake.manifest import LakeManifest
from pipeline_defs.reading import READING_KEY, READING_SCHEMA

RAW_FOLDER = "raw"

StepObserver = Callable[[str], None]
"""Called with "written" after step 3 and "committed" after step 4 (crash tests hook in here)."""


@dataclass(frozen=True)
class CommitResult:
    batch_id: str
    records_in: int
    landed: int
    duplicates: int
    bytes: int
    file: str | None
    already_committed: bool
    min_event_us: int | None = None
    max_event_us: int | None = None


def commit_batch(
    lake_dir: Path,
    manifest: LakeManifest,
    batch_id: str,
    readings: pa.Table,
    *,
    origin: str = "landing",
    on_step: StepObserver | None = None,
) -> CommitResult:
    """Land ``readings`` as batch ``batch_id`` exactly once (see the module docstring)."""
    readings = readings.select(READING_SCHEMA.names).cast(READING_SCHEMA)
    with manifest.write_transaction() as conn:
        known = manifest.batch(batch_id)
        if known is not None:
            return CommitResult(
                batch_id,
                known.records_in,
                known.landed,
                known.duplicates,
                known.bytes,
                known.file,
                already_committed=True,
                min_event_us=known.min_event_us,
                max_event_us=known.max_event_us,
            )
        unique_rows = _first_row_per_key(readings)
        new_rows = _rows_not_in_lake(conn, readings, unique_rows)
        landed = readings.take(new_rows).sort_by("event_time")
        event_us = landed["event_time"].cast(pa.int64())
        file, size, min_us, max_us = None, 0, None, None
        if landed.num_rows:
            file = f"{RAW_FOLDER}/{batch_id}.parquet"
            size = atomic_write(
                lake_dir / file,
                lambda tmp: pq.write_table(landed, tmp, compression="zstd", row_group_size=100_000),
            )
            min_us, max_us = pc.min(event_us).as_py(), pc.max(event_us).as_py()
        _notify(on_step, "written")
        conn.execute(
            "INSERT INTO reading_keys SELECT sensor_id, parameter, event_time_us FROM incoming"
        )
        conn.execute(
            "INSERT INTO batches (batch_id, commit_seq, origin, file, records_in, landed,"
            " duplicates, bytes, min_event_us, max_event_us, committed_at)"
            " VALUES (?, (SELECT COALESCE(MAX(commit_seq), 0) + 1 FROM batches), ?, ?, ?, ?, ?, ?,"
            " ?, ?, ?)",
            (
                batch_id,
                origin,
                file,
                readings.num_rows,
                landed.num_rows,
                readings.num_rows - landed.num_rows,
                size,
                min_us,
                max_us,
                time.time(),
            ),
        )
        days = np.unique(event_us.to_numpy().astype("datetime64[us]").astype("datetime64[D]"))
        conn.executemany(
            "INSERT INTO batch_days (commit_seq, day)"
            " SELECT commit_seq, ? FROM batches WHERE batch_id = ?",
            [(str(day), batch_id) for day in days],
        )
    _notify(on_step, "committed")
    return CommitResult(
        batch_id,
        readings.num_rows,
        landed.num_rows,
        readings.num_rows - landed.num_rows,
        size,
        file,
        already_committed=False,
        min_event_us=min_us,
        max_event_us=max_us,
    )


def _first_row_per_key(readings: pa.Table) -> np.ndarray:
    """Indices of the first occurrence of each reading key within the batch (arrival order)."""
    indexed = readings.select(list(READING_KEY)).append_column(
        "row_index", pa.array(np.arange(readings.num_rows, dtype=np.int64))
    )
    firsts = indexed.group_by(list(READING_KEY), use_threads=False).aggregate(
        [("row_index", "min")]
    )
    return np.sort(firsts["row_index_min"].to_numpy())


def _rows_not_in_lake(conn, readings: pa.Table, rows: np.ndarray) -> np.ndarray:
    """Of ``rows``, those whose key the lake does not hold yet; leaves exactly their keys in the
    temp table ``incoming`` for the commit to record."""
    conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS incoming"
        " (sensor_id TEXT, parameter TEXT, event_time_us INTEGER, row_index INTEGER PRIMARY KEY)"
    )
    conn.execute("DELETE FROM incoming")
    subset = readings.take(rows)
    conn.executemany(
        "INSERT INTO incoming VALUES (?, ?, ?, ?)",
        zip(
            subset["sensor_id"].to_pylist(),
            subset["parameter"].to_pylist(),
            subset["event_time"].cast(pa.int64()).to_pylist(),
            rows.tolist(),
            strict=True,
        ),
    )
    conn.execute(
        "DELETE FROM incoming WHERE EXISTS (SELECT 1 FROM reading_keys AS k"
        " WHERE k.sensor_id = incoming.sensor_id AND k.parameter = incoming.parameter"
        " AND k.event_time_us = incoming.event_time_us)"
    )
    fresh = conn.execute("SELECT row_index FROM incoming ORDER BY row_index").fetchall()
    return np.array([row for (row,) in fresh], dtype=np.int64)


def _notify(on_step: StepObserver | None, step: str) -> None:
    if on_step is not None:
        on_step(step)
