"""The replay producer: source files -> readers -> admission (queue or spill), with backpressure.

Readings of all files are merged in event-time order (as a live feed would deliver them) and offered
in envelopes of ``replay_envelope_records`` to an ``admit`` function: a blocking queue put (a full
queue blocks the producer) or a ``SpillingProducer`` (spills when the queue stays full, blocks while
memory is high or the spill budget is used up). Nothing is dropped.
With ``speed`` the replay paces itself: event time advances ``speed`` times faster than wall time.
Reader rejects are written to ``quarantine/ingress/<file>-<hash of path and content>.parquet`` (so
replaying the same file again overwrites, never duplicates, its quarantine) and counted by reason.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline_defs.ingress.sources import expand_sources, read_source
from pipeline_defs.lake.atomic import atomic_write
from pipeline_defs.lake.layout import ingress_quarantine_dir
from pipeline_defs.landing.queue import LandingQueue
from pipeline_defs.reading import READING_SCHEMA
from pipeline_defs.settings import Settings


@dataclass
class ReplayProgress:
    files: int = 0
    skipped_files: list[Path] = field(default_factory=list)  # in folders, not telemetry
    values_read: int = 0
    quarantined: Counter[str] = field(default_factory=Counter)
    readings_total: int = 0  # readings to admit (known once every file is read)
    enqueued: int = 0
    spilled: int = 0
    envelopes: int = 0
    blocked_seconds: float = 0.0  # time spent in admission (waiting on a full queue included)
    burst_ended_at: float | None = None  # wall time the last envelope was admitted
    done: bool = False

    @property
    def admitted(self) -> int:
        return self.enqueued + self.spilled

    @property
    def quarantined_total(self) -> int:
        return sum(self.quarantined.values())


Admit = Callable[[pa.Table], str]
"""Takes one envelope and returns where it went: "queued" or "spilled"."""


def describe_skipped(skipped: list[Path], shown: int = 10) -> str | None:
    """One line naming the folder files that were not read as telemetry, or None."""
    if not skipped:
        return None
    names = ", ".join(str(path) for path in skipped[:shown])
    more = f" and {len(skipped) - shown} more" if len(skipped) > shown else ""
    return (
        f"skipped {len(skipped)} file(s) that are neither WaterML JSON nor an ESDR CSV export "
        f"(name a file explicitly to quarantine it): {names}{more}"
    )


def blocking_admit(queue: LandingQueue) -> Admit:
    """Admission by a plain blocking put: waits while the queue is full, never spills."""

    def admit(envelope: pa.Table) -> str:
        queue.put(envelope)
        return "queued"

    return admit


def replay(
    paths: Iterable[Path],
    admit: Admit,
    settings: Settings,
    *,
    speed: float | None = None,
    progress: ReplayProgress | None = None,
    on_envelope: Callable[[ReplayProgress], None] | None = None,
) -> ReplayProgress:
    """Read every source file under ``paths`` and offer its readings to ``admit``."""
    progress = progress or ReplayProgress()
    now = datetime.now(UTC)
    tables = []
    listing = expand_sources(paths)
    progress.skipped_files = listing.skipped
    for path in listing.telemetry:
        result = read_source(
            path,
            partition_start=settings.partition_start,
            max_future_skew=timedelta(hours=settings.max_future_skew_hours),
            now=now,
        )
        progress.files += 1
        progress.values_read += result.values_read
        if result.quarantine.num_rows:
            _write_quarantine(settings, path, result.quarantine)
            progress.quarantined.update(result.quarantine["reason"].to_pylist())
        tables.append(result.readings)
    readings = pa.concat_tables(tables) if tables else READING_SCHEMA.empty_table()
    readings = readings.take(pa.compute.sort_indices(readings, [("event_time", "ascending")]))
    progress.readings_total = readings.num_rows

    pace = _Pacer(speed, readings)
    step = settings.replay_envelope_records
    for offset in range(0, readings.num_rows, step):
        envelope = readings.slice(offset, step)
        pace.wait_for(envelope)
        started = time.monotonic()
        where = admit(envelope)
        progress.blocked_seconds += time.monotonic() - started
        if where == "spilled":
            progress.spilled += envelope.num_rows
        else:
            progress.enqueued += envelope.num_rows
        progress.envelopes += 1
        if on_envelope is not None:
            on_envelope(progress)
    progress.burst_ended_at = time.time()
    progress.done = True
    return progress


class _Pacer:
    """Sleeps so that event time advances ``speed`` times faster than wall-clock time."""

    def __init__(self, speed: float | None, readings: pa.Table) -> None:
        self.speed = speed
        self.first_event = readings["event_time"][0].value if readings.num_rows else 0  # µs
        self.started = time.monotonic()

    def wait_for(self, envelope: pa.Table) -> None:
        if not self.speed:
            return
        event_offset_s = (envelope["event_time"][0].value - self.first_event) / 1e6
        delay = event_offset_s / self.speed - (time.monotonic() - self.started)
        if delay > 0:
            time.sleep(delay)


def _write_quarantine(settings: Settings, source: Path, quarantine: pa.Table) -> Path:
    # the same file replayed again overwrites its quarantine; another file never does
    identity = str(source.resolve()).encode() + b"\0" + source.read_bytes()
    digest = hashlib.sha1(identity).hexdigest()[:12]
    path = ingress_quarantine_dir(settings) / f"{source.stem}-{digest}.parquet"
    atomic_write(path, lambda tmp: pq.write_table(quarantine, tmp, compression="zstd"))
    return path
