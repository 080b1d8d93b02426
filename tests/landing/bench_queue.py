"""Throughput of the landing queue on real readings (not a test; run by hand).

    .venv/bin/python -m tests.landing.bench_queue [--envelopes 200] [--compression zstd]

Melts one real air-quality file (Lawrenceville, 5 channels, hourly) into READING_SCHEMA rows,
cuts them into envelopes of 5,000 readings, and times put, then lease + ack one envelope at a time,
against a fresh queue file (WAL, synchronous=FULL) in a temporary folder.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from pipeline_defs.landing import LandingQueue
from pipeline_defs.settings import get_settings
from tests.landing.helpers import real_readings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--envelopes", type=int, default=200)
    parser.add_argument("--records", type=int, default=5_000)
    parser.add_argument("--compression", default="zstd")
    args = parser.parse_args()
    compression = None if args.compression == "none" else args.compression

    readings = real_readings(get_settings().source_data_dir)
    envelopes = [
        readings.slice(i * args.records, args.records)
        for i in range(readings.num_rows // args.records)
    ]
    envelopes = (envelopes * (args.envelopes // len(envelopes) + 1))[: args.envelopes]
    with tempfile.TemporaryDirectory() as tmp:
        queue = LandingQueue.open(
            Path(tmp) / "queue.sqlite", 10**9, 2**40, 300, compression=compression
        )
        started = time.perf_counter()
        for envelope in envelopes:
            queue.put(envelope)
        put_s = time.perf_counter() - started
        stored = queue.stats().bytes
        started = time.perf_counter()
        leased = 0
        while (lease := queue.lease(args.records)) is not None:
            leased += lease.readings.num_rows
            queue.ack(lease.batch_id)
        drain_s = time.perf_counter() - started
        queue.close()
    n = len(envelopes)
    assert leased == n * args.records, (leased, n * args.records)
    print(
        f"{n} envelopes x {args.records:,} readings, compression={compression}: "
        f"{stored / n / 1024:,.0f} KiB/envelope stored "
        f"({envelopes[0].nbytes / 1024:,.0f} KiB in memory); "
        f"put {n / put_s:,.0f}/s, lease+ack {n / drain_s:,.0f}/s, "
        f"put+lease+ack {n / (put_s + drain_s):,.0f} envelopes/s "
        f"= {n * args.records / (put_s + drain_s):,.0f} readings/s"
    )


if __name__ == "__main__":
    main()
