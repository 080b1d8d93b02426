"""Reconciliation: every value read is landed once, collapsed as a duplicate, or quarantined.

``reconcile`` compares the counts each stage keeps independently — the replay's own tallies, the
lake manifest, the enriched and quarantine files, the window aggregates — and lists every equation
that does not hold. It reads files only; it never trusts one stage to report on another.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline_defs.ingress.replay import ReplayProgress
from pipeline_defs.lake.manifest import LakeManifest, LakeTotals
from pipeline_defs.settings import Settings


@dataclass
class LakeSnapshot:
    """What the lake and its downstream files hold right now (totals over all partitions)."""

    manifest: LakeTotals
    reading_keys: int
    spill_records: int  # readings committed from replayed spill segments
    enriched: int
    enriched_without_watershed: int
    enrich_quarantined: Counter[str]
    hourly_windows: int
    hourly_count_sum: int
    sliding_windows: int
    sliding_incomplete: int
    watersheds: int
    months: int
    queue_depth: int = 0  # set by the caller: readings waiting in the landing queue
    spill_pending: int = 0  # set by the caller: readings waiting in pending spill segments
    spill_quarantined: int = 0  # set by the caller: readings in quarantined spill segments

    @classmethod
    def take(cls, settings: Settings) -> LakeSnapshot:
        manifest = LakeManifest(settings.manifest_path)
        try:
            totals, keys = manifest.totals(), manifest.key_count()
            spill_records = manifest.records_from("spill:")
        finally:
            manifest.close()
        enriched = without = 0
        for path in sorted((settings.lake_dir / "enriched").glob("month=*.parquet")):
            huc8 = pq.read_table(path, columns=["huc8"])["huc8"]
            enriched += len(huc8)
            without += huc8.null_count
        quarantined: Counter[str] = Counter()
        for path in sorted((settings.quarantine_dir / "enrich").glob("month=*.parquet")):
            quarantined.update(pq.read_table(path, columns=["reason"])["reason"].to_pylist())
        hourly_rows = count_sum = 0
        hucs: set[str] = set()
        hourly_files = sorted((settings.lake_dir / "windows" / "hourly").glob("month=*.parquet"))
        for path in hourly_files:
            table = pq.read_table(path, columns=["count", "huc8"])
            hourly_rows += table.num_rows
            count_sum += int(pc.sum(table["count"]).as_py() or 0)
            hucs.update(table["huc8"].unique().to_pylist())
        sliding_rows = incomplete = 0
        for path in sorted((settings.lake_dir / "windows" / "sliding").glob("month=*.parquet")):
            complete = pq.read_table(path, columns=["complete"])["complete"]
            sliding_rows += len(complete)
            incomplete += int(pc.sum(pc.invert(complete)).as_py() or 0)
        return cls(
            manifest=totals,
            reading_keys=keys,
            spill_records=spill_records,
            enriched=enriched,
            enriched_without_watershed=without,
            enrich_quarantined=quarantined,
            hourly_windows=hourly_rows,
            hourly_count_sum=count_sum,
            sliding_windows=sliding_rows,
            sliding_incomplete=incomplete,
            watersheds=len(hucs),
            months=len(hourly_files),
        )


@dataclass
class Reconciliation:
    lines: list[tuple[str, int | str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def figure(self, label: str, value: int | str) -> None:
        self.lines.append((label, value))

    def expect(self, label: str, left: int, right: int) -> None:
        if left != right:
            self.failures.append(f"{label}: {left:,} != {right:,} (off by {left - right:+,})")

    def render(self) -> str:
        width = max(len(label) for label, _ in self.lines)
        rows = [
            f"  {label:<{width}}  {value:>12,}"
            if isinstance(value, int)
            else f"  {label:<{width}}  {value:>12}"
            for label, value in self.lines
        ]
        verdict = [
            "RECONCILED: every value read is landed once, a collapsed duplicate, or quarantined."
        ]
        if self.failures:
            verdict = ["NOT RECONCILED:"] + [f"  - {failure}" for failure in self.failures]
        return "\n".join(["Reconciliation", *rows, *verdict])


def reconcile(
    progress: ReplayProgress,
    before: LakeSnapshot,
    after: LakeSnapshot,
    queue_depth: int,
    spill_pending: int,
    spill_quarantined: int,
) -> Reconciliation:
    """Check the replay's tallies against the lake's growth and the lake against its products."""
    report = Reconciliation()
    landed = after.manifest.landed - before.manifest.landed
    duplicates = after.manifest.duplicates - before.manifest.duplicates
    replayed = after.spill_records - before.spill_records
    enrich_quarantined = sum(after.enrich_quarantined.values())

    report.figure("already in the landing queue at start", before.queue_depth)
    report.figure("already pending in spill at start", before.spill_pending)
    report.figure("values read", progress.values_read)
    for reason, count in sorted(progress.quarantined.items()):
        report.figure(f"  quarantined at ingress: {reason}", count)
    report.figure("admitted to the landing queue", progress.enqueued)
    report.figure("spilled to disk", progress.spilled)
    report.figure("  replayed from spill (this run)", replayed)
    report.figure("  still pending in spill", spill_pending)
    spill_quarantined -= before.spill_quarantined  # this run's only
    report.figure("  quarantined spill segments (readings)", spill_quarantined)
    report.figure("landed in the lake (this run)", landed)
    report.figure("duplicates collapsed (this run)", duplicates)
    report.figure("left in the landing queue", queue_depth)
    report.figure("lake readings (all runs)", after.manifest.landed)
    report.figure("  enriched", after.enriched)
    report.figure("    of which outside every watershed", after.enriched_without_watershed)
    for reason, count in sorted(after.enrich_quarantined.items()):
        report.figure(f"  quarantined at enrichment: {reason}", count)
    report.figure("watersheds with windows", after.watersheds)
    report.figure("months (partitions) aggregated", after.months)
    report.figure("hourly windows", after.hourly_windows)
    report.figure("sliding windows (8 h + 24 h)", after.sliding_windows)
    report.figure("  of which under the completeness threshold", after.sliding_incomplete)

    report.expect(
        "values read = quarantined at ingress + admitted + spilled",
        progress.values_read,
        progress.quarantined_total + progress.enqueued + progress.spilled,
    )
    report.expect(
        "waiting at start + admitted + spilled"
        " = landed + duplicates + left in queue + pending/quarantined spill",
        before.queue_depth + before.spill_pending + progress.enqueued + progress.spilled,
        landed + duplicates + queue_depth + spill_pending + spill_quarantined,
    )
    report.expect(
        "lake readings = distinct reading keys", after.manifest.landed, after.reading_keys
    )
    report.expect(
        "lake readings = enriched + quarantined at enrichment",
        after.manifest.landed,
        after.enriched + enrich_quarantined,
    )
    report.expect(
        "readings in hourly windows = enriched readings with a watershed",
        after.hourly_count_sum,
        after.enriched - after.enriched_without_watershed,
    )
    return report
