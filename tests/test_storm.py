"""The storm scenario on a slice of the real data, under the real daemon: it spills, holds back for
memory and for concurrency, stays under the producer's memory budget, replays the spill through a
daemon-run backfill, and ends with a lake and aggregates identical to a calm run."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_defs.runner.storm import StormProfile, run_storm
from pipeline_defs.settings import Settings

pytestmark = pytest.mark.slow

SLICE = (
    "Feed_3508_South_Allegheny_High_School_AirNow.csv",
    "Feed_26_Lawrenceville_ACHD.csv",
    "Feed_29_Liberty_2_ACHD_PM10.csv",
)


def test_storm_ends_identical_to_a_calm_run(tmp_path: Path, source_data: Path) -> None:
    folder = source_data / "air_quality_pittsburgh" / "esdr_raw"
    profile = StormProfile(
        queue_max_records=20_000,
        replay_envelope_records=5_000,
        batch_min_records=5_000,
        batch_max_records=5_000,
        replay_partitions_per_run=10,
        ingest_max_records_per_second=500,  # a 5,000-record run spans a sensor tick or two
    )
    settings = Settings(
        data_dir=tmp_path / "data", source_data_dir=source_data, lake_settle_seconds=15
    )
    lines: list[str] = []
    report = run_storm(settings, [folder / name for name in SLICE], profile, echo=lines.append)
    output = "\n".join(lines)

    assert report.ok, output[-6000:]
    storm, calm = report.storm, report.calm
    assert storm.progress.spilled > 0 and storm.replayed_records == storm.progress.spilled
    assert storm.holds["memory"] > 0 and storm.holds["concurrency"] > 0
    assert storm.peaks.producer_rss < profile.producer_rss_high_mb * 1_000_000
    assert report.identical and not report.differences
    # the calm run never spilled, and both read the same values
    assert calm.progress.spilled == 0
    assert calm.progress.values_read == storm.progress.values_read == 301_467
