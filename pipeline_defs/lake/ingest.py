"""Ingest one leased batch: read it from the landing queue, commit it to the lake, then ack.

This is the only place that acks the landing queue. The order is the whole promise: the ack comes
after the manifest commit, so a crash anywhere before the ack leaves the lease to expire and be
redelivered with the same batch id, and the retried commit is a no-op (see ``raw_batches``).
"""

from __future__ import annotations

import time
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
) -> IngestOutcome:
    """Commit and ack the leased batch ``batch_id``; safe to call again for the same id."""
    lease = queue.get_lease(batch_id)
    committed = manifest.batch(batch_id) is not None
    if lease is None and not committed:
        raise BatchGone(
            f"batch {batch_id} is neither leased in the queue nor committed in the lake"
        )
    # A committed batch short-circuits inside commit_batch; only its ack may be missing.
    readings = READING_SCHEMA.empty_table() if committed else lease.readings
    commit = commit_batch(lake_dir, manifest, batch_id, readings, on_step=on_step)
    acked = queue.ack(batch_id)
    if on_step is not None:
        on_step("acked")
    lag = time.time() - lease.oldest_enqueued_at if lease is not None else None
    return IngestOutcome(commit=commit, acked=acked, queue_after=queue.stats(), lag_seconds=lag)
