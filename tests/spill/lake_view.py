"""What the lake holds, read independently: the raw files its manifest lists, and their keys."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from pipeline_defs.lake.manifest import LakeManifest
from pipeline_defs.lake.reader import read_all_raw
from pipeline_defs.reading import READING_KEY


def lake_rows(lake_dir: Path) -> pa.Table:
    manifest = LakeManifest(lake_dir / "manifest.sqlite")
    try:
        return read_all_raw(lake_dir, manifest)
    finally:
        manifest.close()


def keys(table: pa.Table) -> list[tuple]:
    return sorted(zip(*(table[c].to_pylist() for c in READING_KEY), strict=True))


def write_arrow(path: Path, table: pa.Table) -> None:
    with pa.ipc.new_file(path, table.schema) as writer:
        writer.write_table(table)
