"""The storm scenario: the same input once calm and once as a burst into a small, slow pipeline.

The calm run replays the input with the default settings (a queue big enough, the producer blocks
when it is full). The storm run replays it unpaced — far above 50x the monitors' real-time rate
(hourly readings) and above the pipeline's drain rate — into a deliberately small queue with a
slow drain: the producer spills to disk, the landing sensor holds back for concurrency and for the
memory of its run workers, and afterwards a real backfill of the spilled partitions (run by the
daemon) replays them. The scenario passes when the storm spilled, held back for both reasons,
kept the producer under its memory budget, reconciled, and ended with a lake and window
aggregates identical to the calm run's.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline_defs.lake.compare import compare_lakes
from pipeline_defs.runner.main_job import MB, Echo, MainJobResult, run_main_job
from pipeline_defs.settings import Settings


@dataclass(frozen=True)
class StormProfile:
    """How small and slow the stormy pipeline is (all become settings of the storm run)."""

    queue_max_records: int = 100_000  # more than the runs in flight lease: holds show
    replay_envelope_records: int = 20_000
    batch_min_records: int = 20_000
    batch_max_records: int = 25_000
    max_ingest_runs_in_flight: int = 1
    spill_after_seconds: float = 1.0
    runs_rss_high_mb: float = 150  # one run worker alone is above this: holds for memory
    runs_rss_low_mb: float = 100
    producer_rss_high_mb: float = 2_000  # the producer's memory budget
    producer_rss_low_mb: float = 1_500
    replay_partitions_per_run: int = 10
    # The slow drain: an ingest run outlives a sensor tick (5 s), so ticks hold for concurrency.
    ingest_max_records_per_second: float = 2_500


@dataclass
class StormReport:
    calm: MainJobResult
    storm: MainJobResult
    identical: bool
    differences: list[str]
    failures: list[str]

    @property
    def ok(self) -> bool:
        return not self.failures


def run_storm(
    base: Settings, paths: list[Path], profile: StormProfile = StormProfile(), echo: Echo = print
) -> StormReport:
    root = base.data_dir / "storm"
    shutil.rmtree(root, ignore_errors=True)
    calm_settings = base.model_copy(update={"data_dir": root / "calm"})
    storm_settings = base.model_copy(update={"data_dir": root / "burst", **asdict(profile)})

    echo("== calm run: default settings, blocking producer")
    calm = run_main_job(calm_settings, paths, echo=lambda line: echo(f"calm  | {line}"))
    echo("== storm run: unpaced burst into a small queue with a slow drain, spill on")
    storm = run_main_job(
        storm_settings, paths, spill=True, echo=lambda line: echo(f"storm | {line}")
    )
    comparison = compare_lakes(calm_settings.data_dir, storm_settings.data_dir)

    failures = []
    if calm.status or storm.status:
        failures.append(f"exit status calm {calm.status}, storm {storm.status}")
    if storm.progress.spilled == 0:
        failures.append("the storm did not spill")
    for cause in ("memory", "concurrency"):
        if storm.holds[cause] == 0:
            failures.append(f"the landing sensor never held back for {cause}")
    if storm.peaks.producer_rss > profile.producer_rss_high_mb * MB:
        failures.append("the producer went over its memory budget")
    failures += comparison.differences

    echo("== storm figures")
    budget = profile.producer_rss_high_mb
    echo(
        f"  producer peak RSS        {storm.peaks.producer_rss / MB:8.0f} MB"
        f"  (budget {budget:.0f} MB)"
    )
    echo(
        f"  run workers peak RSS     {storm.peaks.run_workers_rss / MB:8.0f} MB  "
        f"(hold above {profile.runs_rss_high_mb:.0f} MB)"
    )
    echo(
        f"  readings spilled         {storm.progress.spilled:8,}"
        f" in {storm.spilled_segments} segments"
    )
    echo(f"  readings replayed        {storm.replayed_records:8,}")
    echo(
        f"  sensor holds             {storm.holds['memory']} for memory, "
        f"{storm.holds['concurrency']} for concurrency"
    )
    if storm.drained_seconds is not None:
        echo(f"  end of burst → drained   {storm.drained_seconds:8.0f} s (incl. replay backfill)")
    for part, (left, right) in comparison.rows.items():
        echo(f"  {part:<24} calm {left:>10,}  storm {right:>10,}")
    verdict = "IDENTICAL to the calm run" if comparison.identical else "DIFFERENT from the calm run"
    echo(f"  lake and aggregates: {verdict}")
    for failure in failures:
        echo(f"  FAILED: {failure}")
    return StormReport(calm, storm, comparison.identical, comparison.differences, failures)
