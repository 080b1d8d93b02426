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

import pandas as pd
import pyarrow as pa

from pipeline_defs.landing import LandingQueue
from pipeline_defs.reading import READING_SCHEMA
from pipeline_defs.settings import get_settings

FILE = "air_quality_pittsburgh/esdr_raw/Feed_26_Lawrenceville_ACHD.csv"


def real_readings(source_data: Path) -> pa.Table:
    wide = pd.read_csv(source_data / FILE)
    long = wide.melt(id_vars="EpochTime", var_name="channel", value_name="value").dropna()
    channel = long["channel"].str.split(".", n=2, expand=True)
    frame = pd.DataFrame(
        {
            "sensor_id": "esdr:" + channel[1],
            "parameter": channel[2],
            "value": long["value"].astype("float64"),
            "unit": channel[2].str.rsplit("_", n=1).str[-1],
            "event_time": pd.to_datetime(long["EpochTime"], unit="s", utc=True),
            "longitude": -79.960757,
            "latitude": 40.465420,
            "crs": "EPSG:4326",
            "quality": None,
            "source": "esdr:" + Path(FILE).name,
        }
    )
    return pa.Table.from_pandas(frame, schema=READING_SCHEMA, preserve_index=False)


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
