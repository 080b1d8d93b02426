"""Spill: durable overflow of the landing queue and its replay into the lake (no Dagster here)."""

from pipeline_defs.spill.producer import Admission, ProducerCounters, SpillingProducer
from pipeline_defs.spill.replay import ReplayOutcome, replay_segment, spill_batch_id
from pipeline_defs.spill.segments import (
    CorruptSegment,
    RecoveryReport,
    SegmentFault,
    SegmentInfo,
    SegmentState,
    SpillFull,
    SpillStats,
    SpillStore,
    UnknownSegment,
)

__all__ = [
    "Admission",
    "CorruptSegment",
    "ProducerCounters",
    "RecoveryReport",
    "ReplayOutcome",
    "SegmentFault",
    "SegmentInfo",
    "SegmentState",
    "SpillFull",
    "SpillStats",
    "SpillStore",
    "SpillingProducer",
    "UnknownSegment",
    "replay_segment",
    "spill_batch_id",
]
