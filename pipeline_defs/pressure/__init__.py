"""Pressure: the memory guard (pause/resume with hysteresis) and the adaptive drain plan."""

from pipeline_defs.pressure.drain import DrainPlan, batch_cap, plan_drain
from pipeline_defs.pressure.figures import format_bytes
from pipeline_defs.pressure.memory_guard import (
    MemoryGuard,
    MemoryMarks,
    MemorySample,
    PressureState,
    evaluate,
    sample_matching,
    sample_own_process,
    sample_process_tree,
)

__all__ = [
    "DrainPlan",
    "MemoryGuard",
    "MemoryMarks",
    "MemorySample",
    "PressureState",
    "batch_cap",
    "evaluate",
    "format_bytes",
    "plan_drain",
    "sample_matching",
    "sample_own_process",
    "sample_process_tree",
]
