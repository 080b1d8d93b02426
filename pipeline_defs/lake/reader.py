"""Reading the raw lake: always through the manifest, never by listing the folder."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds

from pipeline_defs.lake.manifest import LakeManifest
from pipeline_defs.reading import READING_SCHEMA


def _to_us(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def read_raw(lake_dir: Path, manifest: LakeManifest, start: datetime, end: datetime) -> pa.Table:
    """All landed readings with event time in [start, end), from committed batches only."""
    files = manifest.files_overlapping(_to_us(start), _to_us(end))
    if not files:
        return READING_SCHEMA.empty_table()
    dataset = ds.dataset(
        [str(lake_dir / f) for f in files], schema=READING_SCHEMA, format="parquet"
    )
    in_range = (
        ds.field("event_time") >= pa.scalar(start, READING_SCHEMA.field("event_time").type)
    ) & (ds.field("event_time") < pa.scalar(end, READING_SCHEMA.field("event_time").type))
    return dataset.to_table(filter=in_range)


def read_all_raw(lake_dir: Path, manifest: LakeManifest) -> pa.Table:
    """Every landed reading, from the files of committed batches (for checks and comparisons)."""
    files = [lake_dir / batch.file for batch in manifest.batches() if batch.file]
    if not files:
        return READING_SCHEMA.empty_table()
    return pa.concat_tables([ds.dataset(str(f), format="parquet").to_table() for f in files])
