"""Storm benchmark: Backwater's bounded queue + spill against a naive unbounded in-memory queue.

Both receive the same burst — all Pittsburgh readings (1.8 M) offered as fast as the producer can —
and both are drained by a consumer capped at the same rate (``--drain-rate`` readings/s), so the
burst outruns the drain. Each runs in its own process, and a sampler records its peak RSS.

- backwater: ``SpillingProducer`` → ``LandingQueue`` (bounded) / ``SpillStore``; the consumer
  leases, commits to the lake with ``commit_batch`` and acks; after the burst the spilled segments
  are replayed with ``replay_segment``.
- naive (the seed document's pattern): an unbounded ``asyncio.Queue`` of per-reading dicts, and a
  consumer that transforms each reading with a per-reading ``Transformer.transform`` call.

    .venv/bin/python -m benchmarks.bench_storm [--drain-rate 25000] [--budget-mb 1500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pyarrow as pa
import pyarrow.compute as pc

from pipeline_defs.ingress.sources import iter_source_files, read_source
from pipeline_defs.settings import get_settings

MB = 1_000_000
ENVELOPE = 5_000


def load_readings() -> pa.Table:
    data = get_settings().source_data_dir / "air_quality_pittsburgh"
    tables = [
        read_source(
            f, partition_start=datetime(2000, 1, 1, tzinfo=UTC), max_future_skew=timedelta(hours=24)
        ).readings
        for f in iter_source_files([data])
    ]
    readings = pa.concat_tables(tables)
    return readings.take(pc.sort_indices(readings, [("event_time", "ascending")]))


class PeakRss:
    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, me.memory_info().rss)

    def stop(self) -> int:
        self._stop.set()
        return self.peak


class RateCap:
    """Sleeps so that no more than ``rate`` readings per second pass."""

    def __init__(self, rate: float) -> None:
        self.rate, self.started, self.count = rate, time.monotonic(), 0

    def take(self, n: int) -> None:
        self.count += n
        ahead = self.count / self.rate - (time.monotonic() - self.started)
        if ahead > 0:
            time.sleep(ahead)


def run_backwater(drain_rate: float, budget_mb: float) -> dict:
    from pipeline_defs.lake.manifest import LakeManifest
    from pipeline_defs.lake.raw_batches import commit_batch
    from pipeline_defs.landing.queue import LandingQueue
    from pipeline_defs.pressure.memory_guard import MemoryGuard
    from pipeline_defs.spill.producer import Admission, SpillingProducer
    from pipeline_defs.spill.replay import replay_segment
    from pipeline_defs.spill.segments import SegmentState, SpillStore

    readings = load_readings()
    peak = PeakRss()
    root = Path(tempfile.mkdtemp(prefix="bench-storm-"))
    queue = LandingQueue.open(root / "queue.sqlite", max_records=50_000, max_bytes=10**9)
    store = SpillStore(root / "spill", 2 * 10**9)
    guard = MemoryGuard(int(budget_mb * MB), int(budget_mb * 0.8 * MB), 95, 90)
    producer = SpillingProducer(queue, store, spill_after_seconds=0.2, guard=guard)
    burst_over = threading.Event()
    landed = [0]

    def consume() -> None:
        consumer_queue = LandingQueue.open(
            root / "queue.sqlite", max_records=50_000, max_bytes=10**9
        )
        manifest = LakeManifest(root / "lake" / "manifest.sqlite")
        cap = RateCap(drain_rate)
        while True:
            lease = consumer_queue.lease(10_000)
            if lease is None:
                if burst_over.is_set():
                    break
                time.sleep(0.01)
                continue
            cap.take(lease.records)
            landed[0] += commit_batch(
                root / "lake", manifest, lease.batch_id, lease.readings
            ).landed
            consumer_queue.ack(lease.batch_id)
        for segment in store.list(SegmentState.PENDING):  # the replay after the storm
            cap.take(segment.records or 0)
            landed[0] += replay_segment(store, segment.id, root / "lake", manifest).landed

    consumer = threading.Thread(target=consume)
    consumer.start()
    started = time.monotonic()
    spilled = 0
    for offset in range(0, readings.num_rows, ENVELOPE):
        if producer.put(readings.slice(offset, ENVELOPE)) is Admission.SPILLED:
            spilled += min(ENVELOPE, readings.num_rows - offset)
    burst_seconds = time.monotonic() - started
    burst_over.set()
    consumer.join()
    drained = time.monotonic() - started - burst_seconds
    return {
        "peak_rss": peak.stop(),
        "readings": readings.num_rows,
        "landed": landed[0],
        "spilled": spilled,
        "replayed": spilled,
        "burst_seconds": burst_seconds,
        "drained_seconds": drained,
    }


def run_naive(drain_rate: float) -> dict:
    from pyproj import Transformer

    readings = load_readings()
    peak = PeakRss()
    transformer = Transformer.from_crs("EPSG:4326", "EPSG:4326", always_xy=True)
    rows = readings.to_pylist()
    del readings
    landed: list[tuple] = []
    timings: dict[str, float] = {}

    async def main() -> None:
        queue: asyncio.Queue = asyncio.Queue()  # unbounded: the seed's overflow strategy is memory

        async def produce() -> None:
            started = time.monotonic()
            for row in rows:
                await queue.put(row)
            timings["burst"] = time.monotonic() - started

        async def consume() -> None:
            cap = RateCap(drain_rate)
            while "burst" not in timings or not queue.empty():
                try:
                    row = queue.get_nowait()
                except asyncio.QueueEmpty:
                    await asyncio.sleep(0.001)
                    continue
                x, y = transformer.transform(row["longitude"], row["latitude"])
                landed.append((row["sensor_id"], row["parameter"], row["event_time"], x, y))
                if len(landed) % 1000 == 0:
                    cap.count += 1000
                    ahead = cap.count / cap.rate - (time.monotonic() - cap.started)
                    await asyncio.sleep(max(ahead, 0))

        started = time.monotonic()
        await asyncio.gather(produce(), consume())
        timings["total"] = time.monotonic() - started

    asyncio.run(main())
    return {
        "peak_rss": peak.stop(),
        "readings": len(rows),
        "landed": len(landed),
        "spilled": 0,
        "replayed": 0,
        "burst_seconds": timings["burst"],
        "drained_seconds": timings["total"] - timings["burst"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--drain-rate", type=float, default=25_000)
    parser.add_argument("--budget-mb", type=float, default=1_500, help="backwater producer budget")
    parser.add_argument("--mode", choices=["backwater", "naive"])
    args = parser.parse_args()
    if args.mode:
        result = (
            run_backwater(args.drain_rate, args.budget_mb)
            if args.mode == "backwater"
            else run_naive(args.drain_rate)
        )
        print(json.dumps(result))
        return
    results = {}
    for mode in ("backwater", "naive"):
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.bench_storm",
                "--mode",
                mode,
                "--drain-rate",
                str(args.drain_rate),
                "--budget-mb",
                str(args.budget_mb),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    b, n = results["backwater"], results["naive"]
    print(
        f"Storm: {b['readings']:,} readings offered as one burst; drain capped at "
        f"{args.drain_rate:,.0f} readings/s; Backwater producer budget {args.budget_mb:,.0f} MB"
    )
    print(f"  {'':<34}{'backwater':>14}{'naive unbounded':>18}{'ratio naive/bw':>16}")
    rows = [
        ("peak RSS (MB)", b["peak_rss"] / MB, n["peak_rss"] / MB),
        ("readings landed", b["landed"], n["landed"]),
        ("readings spilled / replayed", b["spilled"], n["spilled"]),
        ("burst duration (s)", b["burst_seconds"], n["burst_seconds"]),
        ("end of burst → drained (s)", b["drained_seconds"], n["drained_seconds"]),
    ]
    for label, left, right in rows:
        ratio = f"{right / left:14.2f}x" if left and right else f"{'—':>15}"
        spec = ",.0f" if label.startswith("readings") else ",.1f"
        print(f"  {label:<34}{left:>14{spec}}{right:>18{spec}}{ratio}")
    within = "within" if b["peak_rss"] <= args.budget_mb * MB else "OVER"
    print(f"  backwater peak RSS is {within} its budget of {args.budget_mb:,.0f} MB")


if __name__ == "__main__":
    main()
