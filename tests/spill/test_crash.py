"""kill -9 at each step of spilling and replaying: after restart + replay, the lake holds each
reading exactly once and the segment ends archived.

The child (``tests/spill/crash_child.py``) SIGKILLs itself from an ``on_step`` observer, so the
kill lands exactly between two durable steps. Readings are real: the first 5,000 Pittsburgh
readings of March 2018.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from pipeline_defs.lake.manifest import LakeManifest
from pipeline_defs.landing.queue import LandingQueue
from pipeline_defs.settings import PROJECT_ROOT
from pipeline_defs.spill import SegmentState, SpillStore, replay_segment
from tests.spill import crash_child
from tests.spill.lake_view import keys, lake_rows, write_arrow

N = 5_000


@pytest.fixture
def root(tmp_path: Path, pittsburgh_month: pa.Table) -> Path:
    write_arrow(tmp_path / "readings.arrow", pittsburgh_month.slice(0, N))
    return tmp_path


def run_child(*args: str) -> subprocess.CompletedProcess[str]:
    child = subprocess.run(
        [sys.executable, "-m", "tests.spill.crash_child", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr
    return child


def readings_of(root: Path) -> pa.Table:
    with pa.ipc.open_file(root / "readings.arrow") as reader:
        return reader.read_all()


def restart_and_replay(root: Path) -> tuple[SpillStore, list]:
    """What the restarted system does: open the store (recovery) and replay every pending one."""
    store = SpillStore(root / "spill", crash_child.SPILL_BUDGET)
    manifest = LakeManifest(root / "lake" / "manifest.sqlite")
    outcomes = [
        replay_segment(store, info.id, root / "lake", manifest)
        for info in store.list(SegmentState.PENDING)
    ]
    manifest.close()
    return store, outcomes


def assert_each_reading_once_and_archived(root: Path, store: SpillStore) -> None:
    readings = readings_of(root)
    assert keys(lake_rows(root / "lake")) == sorted(set(keys(readings)))
    manifest = LakeManifest(root / "lake" / "manifest.sqlite")
    assert manifest.key_count() == manifest.totals().landed == len(set(keys(readings)))
    assert manifest.totals().records_in == N  # one batch of the whole segment, committed once
    manifest.close()
    assert [(s.state, s.records) for s in store.list()] == [(SegmentState.ARCHIVED, N)]


def test_kill_after_the_spill_write_before_the_producer_counts_it(root: Path) -> None:
    queue = LandingQueue.open(root / "queue.sqlite", crash_child.QUEUE_MAX_RECORDS, 10**9)
    queue.put(readings_of(root).slice(N - 100, 100))  # 100 + 5,000 > 5,000: the put must spill
    queue.close()

    run_child("produce", str(root), "spilled")

    queue = LandingQueue.open(root / "queue.sqlite", crash_child.QUEUE_MAX_RECORDS, 10**9)
    assert queue.stats().depth_records == 100  # spilled, not queued
    queue.close()
    store, outcomes = restart_and_replay(root)
    assert store.recovery.clean  # the segment was complete before the kill
    assert [(o.records, o.already_committed) for o in outcomes] == [(N, False)]
    assert_each_reading_once_and_archived(root, store)
    _, again = restart_and_replay(root)  # replayed once: nothing pending any more
    assert again == []


@pytest.mark.parametrize("crash_at", ["written", "committed"])
def test_kill_during_replay(root: Path, crash_at: str) -> None:
    segment = SpillStore(root / "spill", crash_child.SPILL_BUDGET).write(readings_of(root))

    run_child("replay", str(root), crash_at, segment.id)

    manifest = LakeManifest(root / "lake" / "manifest.sqlite")
    committed = manifest.batch(f"spill-{segment.id}") is not None
    manifest.close()
    assert committed is (crash_at == "committed")  # the manifest commit is the dividing line
    store, outcomes = restart_and_replay(root)
    assert [o.segment_id for o in outcomes] == [segment.id]  # it was still pending
    assert outcomes[0].already_committed is (crash_at == "committed")
    assert_each_reading_once_and_archived(root, store)


def test_kill_between_the_metadata_and_the_data_rename(root: Path) -> None:
    run_child("write", str(root), "metadata_written")

    store = SpillStore(root / "spill", crash_child.SPILL_BUDGET)
    assert store.recovery.orphan_metadata_removed == 1
    assert store.list() == []  # write never returned: nothing was admitted
    assert sorted(p.name for p in (root / "spill").rglob("*") if p.is_file()) == [".lock"]
    # The source still holds the readings (it got no acknowledgement) and offers them again.
    store.write(readings_of(root))
    store, _ = restart_and_replay(root)
    assert_each_reading_once_and_archived(root, store)
