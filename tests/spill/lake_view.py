"""What the lake holds, read independently: the raw files its manifest lists, and their keys."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline_defs.lake.manifest import LakeManifest
from pipeline_defs.reading import READING_KEY, READING_SCHEMA


def lake_rows(lake_dir: Path) -> pa.Table:
    manifest = LakeManifest(lake_dir / "manifest.sqlite")
    try:
        files = [lake_dir / b.file for b in manifest.batches() if b.file]
    finally:
        manifest.close()
    if not files:
        return READING_SCHEMA.empty_table()
    return pa.concat_tables([pq.read_table(f) for f in files])


def keys(table: pa.Table) -> list[tuple]:
    return sorted(zip(*(table[c].to_pylist() for c in READING_KEY), strict=True))


def write_arrow(path: Path, table: pa.Table) -> None:
    with pa.ipc.new_file(path, table.schema) as writer:
        writer.write_table(table)
