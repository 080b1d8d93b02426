"""Replay one spill segment into the lake: read (verified) -> commit -> archive.

Owns the order that makes a replay exactly-once in effect. The batch id is deterministic,
``spill-<segment id>``, and ``commit_batch`` is idempotent by batch id, so:

- a crash before the manifest commit leaves the segment pending and no batch row: the retry
  commits it (an unlisted raw file from the first attempt is overwritten);
- a crash after the commit but before the archive leaves the segment pending with its batch
  committed: the retry sees the manifest row, skips reading and committing, and only archives;
- a segment is archived only after its commit; replaying an archived segment changes nothing.

Readings whose key the lake already holds (e.g. offered again after a producer crash) are counted
as duplicates by ``commit_batch``, never landed twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline_defs.lake.manifest import LakeManifest
from pipeline_defs.lake.raw_batches import CommitResult, StepObserver, commit_batch
from pipeline_defs.reading import READING_SCHEMA
from pipeline_defs.spill.segments import SegmentInfo, SegmentState, SpillStore


def spill_batch_id(segment_id: str) -> str:
    """The lake batch id of a spill segment."""
    return f"spill-{segment_id}"


@dataclass(frozen=True)
class ReplayOutcome:
    segment_id: str
    batch_id: str
    records: int  # readings in the segment (as committed)
    landed: int  # new readings this batch put in the lake
    duplicates: int  # readings whose key the lake already held
    already_committed: bool  # the commit happened in an earlier attempt
    already_archived: bool  # nothing to do: the segment was archived before this call
    segment: SegmentInfo  # the segment after the replay (archived)
    commit: CommitResult | None = None


def replay_segment(
    store: SpillStore,
    segment_id: str,
    lake_dir: Path,
    manifest: LakeManifest,
    *,
    on_step: StepObserver | None = None,
) -> ReplayOutcome:
    """Commit the segment's readings as batch ``spill-<segment id>``, then archive it.

    ``on_step`` sees "written" and "committed" (from ``commit_batch``) and "archived". Raises
    ``CorruptSegment`` (the segment is quarantined) if an uncommitted segment fails verification,
    ``UnknownSegment`` if there is no such segment.
    """
    batch_id = spill_batch_id(segment_id)
    segment = store.get(segment_id)
    known = manifest.batch(batch_id)
    if segment.state is SegmentState.ARCHIVED:
        return ReplayOutcome(
            segment_id=segment_id,
            batch_id=batch_id,
            records=known.records_in if known is not None else (segment.records or 0),
            landed=known.landed if known is not None else 0,
            duplicates=known.duplicates if known is not None else 0,
            already_committed=True,
            already_archived=True,
            segment=segment,
        )
    # Committed by an earlier attempt: commit_batch is a no-op, so the segment is not even read
    # (a segment damaged after its commit is still archived, not quarantined).
    readings = store.read(segment_id) if known is None else READING_SCHEMA.empty_table()
    commit = commit_batch(
        lake_dir,
        manifest,
        batch_id,
        readings,
        origin=f"spill:{segment_id}",
        on_step=on_step,
    )
    archived = store.archive(segment_id)
    if on_step is not None:
        on_step("archived")
    return ReplayOutcome(
        segment_id=segment_id,
        batch_id=batch_id,
        records=commit.records_in,
        landed=commit.landed,
        duplicates=commit.duplicates,
        already_committed=commit.already_committed,
        already_archived=False,
        segment=archived,
        commit=commit,
    )
