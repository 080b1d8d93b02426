"""A ``kill -9`` of an ingest between writing and acking loses nothing and duplicates nothing."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest

from pipeline_defs.lake.ingest import ingest_batch
from pipeline_defs.lake.manifest import LakeManifest
from pipeline_defs.lake.reader import read_all_raw
from pipeline_defs.landing.queue import LandingQueue
from pipeline_defs.reading import READING_KEY
from pipeline_defs.settings import PROJECT_ROOT


def _keys(table: pa.Table) -> list[tuple]:
    return sorted(zip(*(table[c].to_pylist() for c in READING_KEY), strict=True))


@pytest.mark.parametrize("crash_at", ["written", "committed", "acked"])
def test_kill_between_write_and_ack_loses_and_duplicates_nothing(
    tmp_path: Path, pittsburgh_month: pa.Table, crash_at: str
) -> None:
    readings = pittsburgh_month.slice(0, 12_000)
    queue_path, lake_dir = tmp_path / "queue.sqlite", tmp_path / "lake"
    queue = LandingQueue.open(queue_path, max_records=10**6, max_bytes=10**9, lease_seconds=1)
    for offset in range(0, readings.num_rows, 5_000):
        queue.put(readings.slice(offset, 5_000))
    lease = queue.lease(max_records=100_000)
    assert lease is not None and lease.records == readings.num_rows

    child = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.lake.crash_child",
            str(queue_path),
            str(lake_dir),
            lease.batch_id,
            crash_at,
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr

    # The lease expires and is redelivered with the same batch id; the retry completes it.
    time.sleep(1.2)
    redelivered = queue.lease(max_records=100_000)
    if crash_at == "acked":
        assert redelivered is None  # the ack was durable before the kill
    else:
        assert redelivered is not None and redelivered.batch_id == lease.batch_id
        assert redelivered.attempt == 2
        manifest = LakeManifest(lake_dir / "manifest.sqlite")
        outcome = ingest_batch(queue, lake_dir, manifest, redelivered.batch_id)
        assert outcome.commit.already_committed is (crash_at == "committed")
        manifest.close()

    manifest = LakeManifest(lake_dir / "manifest.sqlite")
    landed = read_all_raw(lake_dir, manifest)
    assert queue.stats().depth_records == 0
    assert manifest.totals().batches == 1
    assert _keys(landed) == sorted(set(_keys(readings)))  # every reading once, no more
    assert landed.num_rows == manifest.totals().landed == manifest.key_count()
