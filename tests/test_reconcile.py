"""The reconciliation's equations: they hold for consistent counts and name the gap otherwise."""

from __future__ import annotations

from collections import Counter

from pipeline_defs.ingress.replay import ReplayProgress
from pipeline_defs.lake.manifest import LakeTotals
from pipeline_defs.reconcile import LakeSnapshot, reconcile


def snapshot(
    landed: int, duplicates: int, enriched: int, outside: int, hourly_sum: int, **waiting: int
) -> LakeSnapshot:
    totals = LakeTotals(
        batches=1,
        records_in=landed + duplicates,
        landed=landed,
        duplicates=duplicates,
        bytes=0,
        last_commit_seq=1,
    )
    return LakeSnapshot(
        manifest=totals,
        reading_keys=landed,
        spill_records=0,
        enriched=enriched,
        enriched_without_watershed=outside,
        enrich_quarantined=Counter({"bad_coordinates": landed - enriched}),
        hourly_windows=10,
        hourly_count_sum=hourly_sum,
        sliding_windows=20,
        sliding_incomplete=1,
        watersheds=1,
        months=1,
        **waiting,
    )


def test_readings_waiting_at_start_are_part_of_the_balance() -> None:
    progress = ReplayProgress(
        values_read=1_000, quarantined=Counter(no_data_value=10), enqueued=990
    )
    before = snapshot(0, 0, 0, 0, 0, queue_depth=953)  # left by an interrupted run
    after = snapshot(1_943, 0, 1_940, 5, 1_935)
    report = reconcile(progress, before, after, queue_depth=0, spill_pending=0, spill_quarantined=0)
    assert report.ok, report.failures


def test_a_missing_reading_is_named_with_the_gap() -> None:
    progress = ReplayProgress(values_read=1_000, quarantined=Counter(), enqueued=1_000)
    before = snapshot(0, 0, 0, 0, 0)
    after = snapshot(999, 0, 999, 0, 999)
    report = reconcile(progress, before, after, queue_depth=0, spill_pending=0, spill_quarantined=0)
    assert not report.ok
    assert any("off by +1" in failure for failure in report.failures)
    assert "NOT RECONCILED" in report.render()
