"""Test helpers: readings that carry a unique integer id, and independent views of a spill folder.

The views read the folder with plain ``os``/``json``/``pyarrow`` calls, not through ``SpillStore``,
so they check the store's answers against what is really on disk.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

from pipeline_defs.reading import READING_SCHEMA

EPOCH_US = int(datetime(2021, 6, 1, tzinfo=UTC).timestamp() * 1_000_000)
STATE_FOLDERS = {"pending": "pending", "archived": "archive", "quarantined": "quarantine"}


def make_readings(ids: Sequence[int], pad: int = 0) -> pa.Table:
    """Readings numbered ``ids``: ``value`` is the id, ``sensor_id`` is ``f"s{id}"``, one
    reading per 15 minutes. ``pad`` characters of quality text per reading add bytes."""
    n = len(ids)
    return pa.table(
        {
            "sensor_id": pa.array([f"s{i}" for i in ids], pa.string()),
            "parameter": pa.array(["00060"] * n),
            "value": np.asarray(ids, dtype="float64"),
            "unit": pa.array(["ft3/s"] * n),
            "event_time": pa.array(
                EPOCH_US + np.asarray(ids, dtype="int64") * 900_000_000,
                pa.timestamp("us", tz="UTC"),
            ),
            "longitude": np.full(n, -80.07),
            "latitude": np.full(n, 40.49),
            "crs": pa.array(["EPSG:4326"] * n),
            "quality": pa.array(["P" * pad if pad else None] * n, pa.string()),
            "source": pa.array(["test:spill"] * n),
        },
        schema=READING_SCHEMA,
    )


def reading_ids(table: pa.Table) -> list[int]:
    return [int(v) for v in table.column("value").to_pylist()]


def data_files(root: Path, state: str) -> dict[str, Path]:
    """``{segment id: .arrow path}`` in the folder of ``state``."""
    folder = root / STATE_FOLDERS[state]
    return {p.name.removesuffix(".arrow"): p for p in folder.glob("seg-*.arrow")}


def folder_recount(root: Path) -> dict[str, int]:
    """Segments, records (from the .json files) and bytes (.arrow sizes) per state, recounted."""
    counts: dict[str, int] = {}
    for state in STATE_FOLDERS:
        files = data_files(root, state)
        records = 0
        for segment_id, path in files.items():
            meta = path.with_name(f"{segment_id}.json")
            if meta.exists():
                records += json.loads(meta.read_text())["records"]
        counts[f"{state}_segments"] = len(files)
        counts[f"{state}_records"] = records
        counts[f"{state}_bytes"] = sum(p.stat().st_size for p in files.values())
    return counts


def decode_ids(path: Path) -> list[int]:
    """Reading ids of an .arrow segment file, decoded with pyarrow directly."""
    with pa.ipc.open_file(pa.py_buffer(path.read_bytes())) as reader:
        return reading_ids(reader.read_all())
