"""Compare two lakes: do they hold the same readings, enrichment and window aggregates?

Used to show that a storm (spill, holds, replay backfills) ends exactly where a calm run over the
same input ends. Files are compared by content, sorted by their natural keys, never by name or by
the batch they arrived in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from pipeline_defs.lake.manifest import LakeManifest
from pipeline_defs.lake.reader import read_all_raw
from pipeline_defs.reading import READING_KEY

WINDOW_KEYS = {
    "hourly": ["huc8", "parameter", "unit", "window_start"],
    "sliding": ["huc8", "parameter", "unit", "window_hours", "window_start"],
}
# is_final depends on when a window was computed, not on the data
VOLATILE_COLUMNS = ["is_final"]


@dataclass
class LakeComparison:
    rows: dict[str, tuple[int, int]] = field(default_factory=dict)  # part -> (left, right)
    differences: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not self.differences


def _raw_readings(lake_dir: Path) -> pd.DataFrame:
    manifest = LakeManifest(lake_dir / "manifest.sqlite")
    try:
        return read_all_raw(lake_dir, manifest).to_pandas()
    finally:
        manifest.close()


def _folder(folder: Path, drop: list[str]) -> pd.DataFrame:
    files = sorted(folder.glob("month=*.parquet"))
    if not files:
        return pd.DataFrame()
    frames = [
        pq.read_table(f).drop_columns([c for c in drop if c in pq.read_schema(f).names]).to_pandas()
        for f in files
    ]
    return pd.concat(frames, ignore_index=True)


def _same(
    name: str, left: pd.DataFrame, right: pd.DataFrame, keys: list[str], report: LakeComparison
) -> None:
    report.rows[name] = (len(left), len(right))
    if len(left) != len(right):
        report.differences.append(f"{name}: {len(left):,} rows vs {len(right):,}")
        return
    if left.empty:
        return
    left = left.sort_values(keys, ignore_index=True)
    right = right.sort_values(keys, ignore_index=True)[list(left.columns)]
    try:
        pd.testing.assert_frame_equal(left, right, check_dtype=False, rtol=1e-12, atol=1e-12)
    except AssertionError as error:
        report.differences.append(f"{name}: {str(error).splitlines()[0]}")


def compare_lakes(left_data_dir: Path, right_data_dir: Path) -> LakeComparison:
    """Content comparison of two Backwater data folders (raw, enriched, hourly, sliding)."""
    report = LakeComparison()
    reading_keys = list(READING_KEY)
    _same(
        "raw readings",
        _raw_readings(left_data_dir / "lake"),
        _raw_readings(right_data_dir / "lake"),
        reading_keys,
        report,
    )
    _same(
        "enriched",
        _folder(left_data_dir / "lake" / "enriched", ["geometry", "bbox"]),
        _folder(right_data_dir / "lake" / "enriched", ["geometry", "bbox"]),
        reading_keys,
        report,
    )
    for kind, keys in WINDOW_KEYS.items():
        _same(
            f"{kind} windows",
            _folder(left_data_dir / "lake" / "windows" / kind, VOLATILE_COLUMNS),
            _folder(right_data_dir / "lake" / "windows" / kind, VOLATILE_COLUMNS),
            keys,
            report,
        )
    return report
