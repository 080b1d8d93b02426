"""replay_segment on real Pittsburgh readings: exactly once in the lake, archive after commit."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from pipeline_defs.lake.manifest import LakeManifest
from pipeline_defs.spill import CorruptSegment, SegmentState, SpillStore, replay_segment
from tests.spill.lake_view import keys, lake_rows


@pytest.fixture
def readings(pittsburgh_month: pa.Table) -> pa.Table:
    return pittsburgh_month.slice(0, 4_000)


def test_replay_lands_once_archives_and_a_second_replay_changes_nothing(
    tmp_path: Path, readings: pa.Table
) -> None:
    store, lake = SpillStore(tmp_path / "spill", 10**9), tmp_path / "lake"
    manifest = LakeManifest(lake / "manifest.sqlite")
    segment = store.write(readings)
    steps: list[str] = []

    first = replay_segment(store, segment.id, lake, manifest, on_step=steps.append)
    assert steps == ["written", "committed", "archived"]
    unique = len(set(keys(readings)))
    assert (first.records, first.landed, first.duplicates) == (4_000, unique, 4_000 - unique)
    assert first.batch_id == f"spill-{segment.id}" and not first.already_committed
    assert first.segment.state is SegmentState.ARCHIVED
    assert manifest.batch(first.batch_id).origin == f"spill:{segment.id}"

    totals = manifest.totals()
    again = replay_segment(store, segment.id, lake, manifest, on_step=steps.append)
    assert again.already_archived and again.landed == unique and steps[3:] == []
    assert manifest.totals() == totals
    assert keys(lake_rows(lake)) == sorted(set(keys(readings)))


def test_overlapping_segments_land_each_reading_once(tmp_path: Path, readings: pa.Table) -> None:
    store, lake = SpillStore(tmp_path / "spill", 10**9), tmp_path / "lake"
    manifest = LakeManifest(lake / "manifest.sqlite")
    a = store.write(readings.slice(0, 3_000))
    b = store.write(readings.slice(2_000, 2_000))  # 1,000 readings already in a

    landed = [replay_segment(store, s.id, lake, manifest).landed for s in (a, b)]
    assert sum(landed) == manifest.key_count() == len(set(keys(readings)))
    assert keys(lake_rows(lake)) == sorted(set(keys(readings)))
    assert [s.state for s in store.list()] == [SegmentState.ARCHIVED] * 2


def test_a_corrupt_segment_is_quarantined_and_never_committed(
    tmp_path: Path, readings: pa.Table
) -> None:
    store, lake = SpillStore(tmp_path / "spill", 10**9), tmp_path / "lake"
    manifest = LakeManifest(lake / "manifest.sqlite")
    bad, good = store.write(readings.slice(0, 1_000)), store.write(readings.slice(1_000, 1_000))
    bad.path.write_bytes(bad.path.read_bytes()[:-100])

    with pytest.raises(CorruptSegment, match="truncated"):
        replay_segment(store, bad.id, lake, manifest)
    assert manifest.batch(f"spill-{bad.id}") is None
    assert store.get(bad.id).state is SegmentState.QUARANTINED
    assert replay_segment(store, good.id, lake, manifest).records == 1_000  # not blocked
    with pytest.raises(CorruptSegment, match="truncated"):
        replay_segment(store, bad.id, lake, manifest)  # still refused, still not committed
    assert manifest.totals().batches == 1


def test_a_segment_damaged_after_its_commit_is_archived_not_quarantined(
    tmp_path: Path, readings: pa.Table
) -> None:
    store, lake = SpillStore(tmp_path / "spill", 10**9), tmp_path / "lake"
    manifest = LakeManifest(lake / "manifest.sqlite")
    segment = store.write(readings.slice(0, 500))

    def damage_after_commit(step: str) -> None:
        if step == "committed":
            segment.path.write_bytes(b"bit rot")
            raise KeyboardInterrupt  # the run dies before archiving

    with pytest.raises(KeyboardInterrupt):
        replay_segment(store, segment.id, lake, manifest, on_step=damage_after_commit)
    outcome = replay_segment(store, segment.id, lake, manifest)
    assert outcome.already_committed and outcome.segment.state is SegmentState.ARCHIVED
    assert manifest.totals().batches == 1 and manifest.key_count() == len(
        set(keys(readings.slice(0, 500)))
    )
