"""The lake's write path: idempotent commits, duplicates collapsed by key, manifest-only listing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline_defs.lake.manifest import LakeManifest
from pipeline_defs.lake.raw_batches import commit_batch
from pipeline_defs.lake.reader import read_raw


def test_recommitting_a_batch_id_is_a_no_op(tmp_path: Path, pittsburgh_month: pa.Table) -> None:
    manifest = LakeManifest(tmp_path / "manifest.sqlite")
    batch = pittsburgh_month.slice(0, 4_000)
    first = commit_batch(tmp_path, manifest, "000000000001-000000000001", batch)
    again = commit_batch(tmp_path, manifest, "000000000001-000000000001", batch)
    assert (first.landed, first.already_committed) == (4_000, False)
    assert again.already_committed and again.landed == 4_000
    assert manifest.totals().landed == 4_000 == manifest.key_count()


def test_duplicates_collapse_within_and_across_batches(tmp_path: Path, pittsburgh_month) -> None:
    manifest = LakeManifest(tmp_path / "manifest.sqlite")
    a = pittsburgh_month.slice(0, 3_000)
    b = pittsburgh_month.slice(2_000, 3_000)  # 1,000 rows overlap with a
    within = pa.concat_tables([a.slice(0, 500), a.slice(0, 500)])  # 500 repeated in one batch
    r1 = commit_batch(tmp_path, manifest, "b1", a)
    r2 = commit_batch(tmp_path, manifest, "b2", b)
    r3 = commit_batch(tmp_path, manifest, "b3", within)
    assert (r1.landed, r1.duplicates) == (3_000, 0)
    assert (r2.landed, r2.duplicates) == (2_000, 1_000)
    assert (r3.landed, r3.duplicates, r3.file) == (0, 1_000, None)
    totals = manifest.totals()
    assert (totals.landed, totals.duplicates, totals.records_in) == (5_000, 2_000, 7_000)


def test_unlisted_files_are_invisible_to_readers(tmp_path: Path, pittsburgh_month) -> None:
    manifest = LakeManifest(tmp_path / "manifest.sqlite")
    commit_batch(tmp_path, manifest, "b1", pittsburgh_month.slice(0, 1_000))
    # a file left by a run that died before its manifest commit
    pq.write_table(pittsburgh_month.slice(1_000, 1_000), tmp_path / "raw" / "orphan.parquet")
    everything = read_raw(
        tmp_path, manifest, datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
    )
    assert everything.num_rows == 1_000


def test_read_raw_filters_half_open_event_time(tmp_path: Path, pittsburgh_month) -> None:
    manifest = LakeManifest(tmp_path / "manifest.sqlite")
    commit_batch(tmp_path, manifest, "b1", pittsburgh_month)
    start, end = datetime(2018, 3, 10, tzinfo=UTC), datetime(2018, 3, 11, tzinfo=UTC)
    got = read_raw(tmp_path, manifest, start, end)
    times = pittsburgh_month["event_time"]
    expected = pc.sum(
        pc.and_(
            pc.greater_equal(times, pa.scalar(start, times.type)),
            pc.less(times, pa.scalar(end, times.type)),
        )
    ).as_py()
    assert got.num_rows == expected > 0
    assert pc.min(got["event_time"]).as_py() >= start


def test_days_touched_drive_the_cursor(tmp_path: Path, pittsburgh_month) -> None:
    manifest = LakeManifest(tmp_path / "manifest.sqlite")
    commit_batch(tmp_path, manifest, "b1", pittsburgh_month.slice(0, 10))
    days, newest = manifest.days_touched_after(0)
    expected = sorted(
        {t.strftime("%Y-%m-%d") for t in pittsburgh_month.slice(0, 10)["event_time"].to_pylist()}
    )
    assert (days, newest) == (expected, 1)
    assert manifest.days_touched_after(newest) == ([], 1)
