"""Ingest one leased batch: read it from the landing queue, commit it to the lake, then ack.

This is the only place that acks the landing queue. The order is the whole promise: the ack comes
after the manifest commit, so a crash anywhere before the ack leaves the lease to expire and be
redelivered with the same batch id, and the retried commit is a no-op (see ``raw_batches``).

``max_records_per_second`` paces the write (a lake on a shared disk or object store may need it;
the storm scenario uses it as its slow drain): the commit starts no earlier than
``records / rate`` seconds after the lease was read, so the lease is held — and counted in
flight — for that long.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline_defs.lake.manifest import LakeManifest
from pipeline_defs.lake.raw_batches import CommitResult, StepObserver, commit_batch
from pipeline_defs.landing.queue import LandingQueue, QueueStats
from pipeline_defs.reading import READING_SCHEMA


class BatchGone(LookupError):
    """The batch's entries are no longer in the queue (already acked by an earlier attempt)."""


@dataclass(frozen=True)
class IngestOutcome:
    commit: CommitResult
    acked: bool
    queue_after: QueueStats
    lag_seconds: float | None  # commit time minus enqueue time of the batch's oldest reading


def ingest_batch(
    queue: LandingQueue,
    lake_dir: Path,
    manifest: LakeManifest,
    batch_id: str,
    *,
    on_step: StepObserver | None = None,
    max_records_per_second: float = 0.0,
    sleep: Callable[[float], None] = time.sleep,
) -> IngestOutcome:
    """Commit and ack the leased batch ``batch_id``; safe to call again for the same id.

    ``max_records_per_second`` > 0 paces the commit (see the module docstring); 0 is unpaced.
    """
    read_at = time.monotonic()
    lease = queue.get_lease(batch_id)
    committed = manifest.batch(batch_id) is not None
    if lease is None and not committed:
        raise BatchGone(
            f"batch {batch_id} is neither leased in the queue nor committed in the lake"
        )
    # A committed batch short-circuits inside commit_batch; only its ack may be missing.
    readings = READING_SCHEMA.empty_table() if committed else lease.readings
    if max_records_per_second > 0 and readings.num_rows:
        paced_until = read_at + readings.num_rows / max_records_per_second
        sleep(max(0.0, paced_until - time.monotonic()))
    commit = commit_batch(lake_dir, manifest, batch_id, readings, on_step=on_step)
    acked = queue.ack(batch_id)
    if on_step is not None:
        on_step("acked")
    lag = time.time() - lease.oldest_enqueued_at if lease is not None else None
    return IngestOutcome(commit=commit, acked=acked, queue_after=queue.stats(), lag_seconds=lag)
