"""Test helpers: envelopes whose readings carry a unique integer id, and raw views of a queue file.

The raw views read the SQLite file with their own connection and decode payloads with pyarrow
directly, so they check the queue's counters and contents independently of ``LandingQueue``.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline_defs.reading import READING_SCHEMA

EPOCH_US = int(datetime(2021, 6, 1, tzinfo=UTC).timestamp() * 1_000_000)


def make_envelope(ids: Sequence[int], pad: int = 0) -> pa.Table:
    """Readings numbered ``ids``: ``value`` is the id, ``sensor_id`` is ``f"s{id}"``.

    ``pad`` characters of quality text per reading make the envelope larger in bytes.
    """
    n = len(ids)
    values = np.asarray(ids, dtype="float64")
    return pa.table(
        {
            "sensor_id": pa.array([f"s{i}" for i in ids], pa.string()),
            "parameter": pa.array(["00060"] * n),
            "value": values,
            "unit": pa.array(["ft3/s"] * n),
            "event_time": pa.array(
                EPOCH_US + np.asarray(ids, dtype="int64") * 900_000_000,
                pa.timestamp("us", tz="UTC"),
            ),
            "longitude": np.full(n, -80.07),
            "latitude": np.full(n, 40.49),
            "crs": pa.array(["EPSG:4326"] * n),
            "quality": pa.array(["P" * pad if pad else None] * n, pa.string()),
            "source": pa.array(["test:helpers"] * n),
        },
        schema=READING_SCHEMA,
    )


def reading_ids(table: pa.Table) -> list[int]:
    return [int(v) for v in table.column("value").to_pylist()]


@dataclass(frozen=True)
class RawView:
    """What the file holds, recounted from ``entries`` and ``leases``, and the stats row."""

    recount: dict[str, int]
    stats_row: dict[str, int]
    ids_by_seq: dict[int, list[int]]

    @property
    def id_counts(self) -> Counter[int]:
        return Counter(i for ids in self.ids_by_seq.values() for i in ids)


def raw_view(path: Path) -> RawView:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT seq, records, length(payload), payload FROM entries").fetchall()
        leases = conn.execute("SELECT first_seq, last_seq FROM leases").fetchall()
        stats = conn.execute(
            "SELECT depth_records, depth_entries, bytes, leased_records, leased_entries,"
            " leased_batches FROM stats"
        ).fetchone()
    finally:
        conn.close()
    ids_by_seq = {}
    for seq, records, _, payload in rows:
        table = pa.ipc.open_stream(pa.py_buffer(payload)).read_all()
        assert table.num_rows == records, (seq, table.num_rows, records)
        ids_by_seq[seq] = reading_ids(table)
    leased = [(s, ids_by_seq[s]) for s in ids_by_seq if any(f <= s <= la for f, la in leases)]
    recount = {
        "depth_records": sum(r for _, r, _, _ in rows),
        "depth_entries": len(rows),
        "bytes": sum(b for _, _, b, _ in rows),
        "leased_records": sum(len(ids) for _, ids in leased),
        "leased_entries": len(leased),
        "leased_batches": len(leases),
    }
    return RawView(recount, dict(zip(recount, stats, strict=True)), ids_by_seq)


AIR_QUALITY_FILE = "air_quality_pittsburgh/esdr_raw/Feed_26_Lawrenceville_ACHD.csv"


def real_readings(source_data: Path) -> pa.Table:
    """Every non-empty value of one real air-quality file (5 channels, hourly) as readings."""
    wide = pd.read_csv(source_data / AIR_QUALITY_FILE)
    long = wide.melt(id_vars="EpochTime", var_name="channel", value_name="value").dropna()
    channel = long["channel"].str.split(".", n=2, expand=True)
    frame = pd.DataFrame(
        {
            "sensor_id": "esdr:" + channel[1],
            "parameter": channel[2],
            "value": long["value"].astype("float64"),
            "unit": channel[2].str.rsplit("_", n=1).str[-1],
            "event_time": pd.to_datetime(long["EpochTime"], unit="s", utc=True),
            "longitude": -79.960757,
            "latitude": 40.465420,
            "crs": "EPSG:4326",
            "quality": None,
            "source": "esdr:" + Path(AIR_QUALITY_FILE).name,
        }
    )
    return pa.Table.from_pandas(frame, schema=READING_SCHEMA, preserve_index=False)
