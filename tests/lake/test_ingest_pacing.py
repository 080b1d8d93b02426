"""A paced ingest holds its lease, uncommitted, for records / rate before it writes."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from pipeline_defs.lake.ingest import ingest_batch
from pipeline_defs.lake.manifest import LakeManifest
from pipeline_defs.landing.queue import LandingQueue


def test_pacing_waits_records_over_rate_with_the_lease_held(
    tmp_path: Path, pittsburgh_month: pa.Table
) -> None:
    readings = pittsburgh_month.slice(0, 6_000)
    queue = LandingQueue.open(
        tmp_path / "queue.sqlite", max_records=10**6, max_bytes=10**9, lease_seconds=60
    )
    queue.put(readings)
    lease = queue.lease(max_records=100_000)
    assert lease is not None
    manifest = LakeManifest(tmp_path / "lake" / "manifest.sqlite")
    seen: list[tuple[float, int, int]] = []

    def record_sleep(seconds: float) -> None:
        seen.append((seconds, queue.stats().leased_records, manifest.totals().batches))

    outcome = ingest_batch(
        queue,
        tmp_path / "lake",
        manifest,
        lease.batch_id,
        max_records_per_second=2_000,
        sleep=record_sleep,
    )
    assert len(seen) == 1
    seconds, leased, committed_batches = seen[0]
    assert 2.0 < seconds <= 3.0  # 6,000 records at 2,000/s, less the time already spent
    assert leased == 6_000 and committed_batches == 0  # paced before the commit, lease held
    assert outcome.commit.landed + outcome.commit.duplicates == 6_000
    assert queue.stats().depth_records == 0


def test_unpaced_ingest_never_sleeps(tmp_path: Path, pittsburgh_month: pa.Table) -> None:
    queue = LandingQueue.open(
        tmp_path / "queue.sqlite", max_records=10**6, max_bytes=10**9, lease_seconds=60
    )
    queue.put(pittsburgh_month.slice(0, 1_000))
    lease = queue.lease(max_records=100_000)
    assert lease is not None
    manifest = LakeManifest(tmp_path / "lake" / "manifest.sqlite")
    slept: list[float] = []
    outcome = ingest_batch(queue, tmp_path / "lake", manifest, lease.batch_id, sleep=slept.append)
    assert slept == [] and outcome.acked
