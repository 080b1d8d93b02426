"""The memory guard: pause intake above a high-water mark, resume below a low-water mark.

Owns the pause decision and the ways to measure memory. Two quantities are watched, each with a
high and a low mark: the resident set size (RSS) of what is being guarded (this process, a process
tree, or every process whose command line matches), and the system-wide memory use in percent.

The rule, with hysteresis (``evaluate``):

- not paused: pause as soon as *either* quantity is at or above its high mark;
- paused: stay paused until *both* quantities are below their low marks.

So between the marks the previous decision holds, and the guard cannot flap on a value that
hovers around one threshold. Every decision carries a reason with the figures that made it
("RSS 912 MB ≥ 800 MB"; "still paused: system memory 86.0 % ≥ low mark 80 %").

``MemoryGuard`` keeps the previous decision in the object (the gateway and the spilling producer
call ``check`` and block while it says paused); a Dagster sensor keeps it in its cursor and calls
the stateless ``evaluate`` instead. Sampling uses psutil; a sample function is injectable for tests.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

import psutil

from pipeline_defs.pressure.figures import format_bytes


@dataclass(frozen=True)
class MemorySample:
    """One measurement: RSS of the guarded processes and system memory use in percent."""

    rss_bytes: int
    system_percent: float
    processes: int = 1  # how many processes the RSS sums over


@dataclass(frozen=True)
class MemoryMarks:
    """High and low marks; ``low < high`` for each quantity (validated)."""

    high_rss_bytes: int
    low_rss_bytes: int
    high_system_percent: float
    low_system_percent: float

    def __post_init__(self) -> None:
        if not 0 <= self.low_rss_bytes < self.high_rss_bytes:
            raise ValueError(
                f"memory marks: low RSS {format_bytes(self.low_rss_bytes)}"
                f" ({self.low_rss_bytes:,} B) must be ≥ 0 and < high RSS"
                f" {format_bytes(self.high_rss_bytes)} ({self.high_rss_bytes:,} B)"
            )
        if not 0 <= self.low_system_percent < self.high_system_percent:
            raise ValueError(
                f"memory marks: low system memory {self.low_system_percent:g} % must be ≥ 0 and"
                f" < high system memory {self.high_system_percent:g} %"
            )


@dataclass(frozen=True)
class PressureState:
    """A decision: pause or not, why (figures; None when running freely), and the sample."""

    paused: bool
    reason: str | None
    sample: MemorySample


def evaluate(previously_paused: bool, sample: MemorySample, marks: MemoryMarks) -> PressureState:
    """The decision for ``sample`` given the previous one (see the module docstring). Pure."""
    rss, pct = sample.rss_bytes, sample.system_percent
    over = []
    if rss >= marks.high_rss_bytes:
        over.append(f"RSS {format_bytes(rss)} ≥ {format_bytes(marks.high_rss_bytes)}")
    if pct >= marks.high_system_percent:
        over.append(f"system memory {pct:.1f} % ≥ {marks.high_system_percent:g} %")
    if over:
        return PressureState(True, "; ".join(over), sample)
    if not previously_paused:
        return PressureState(False, None, sample)
    holding = []
    if rss >= marks.low_rss_bytes:
        holding.append(f"RSS {format_bytes(rss)} ≥ low mark {format_bytes(marks.low_rss_bytes)}")
    if pct >= marks.low_system_percent:
        holding.append(f"system memory {pct:.1f} % ≥ low mark {marks.low_system_percent:g} %")
    if holding:
        return PressureState(True, "still paused: " + "; ".join(holding), sample)
    return PressureState(False, None, sample)


# --- sampling --------------------------------------------------------------------------------


def sample_own_process() -> MemorySample:
    """RSS of this process and system memory use."""
    rss = psutil.Process().memory_info().rss
    return MemorySample(rss, psutil.virtual_memory().percent, 1)


def sample_process_tree(pid: int) -> MemorySample:
    """Summed RSS of process ``pid`` and all its descendants; a process that ends while being
    measured is left out. Raises ``psutil.NoSuchProcess`` if ``pid`` itself does not exist."""
    root = psutil.Process(pid)
    rss, count = root.memory_info().rss, 1
    for child in root.children(recursive=True):
        try:
            rss += child.memory_info().rss
            count += 1
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return MemorySample(rss, psutil.virtual_memory().percent, count)


def sample_matching(cmdline_substring: str, *, include_self: bool = False) -> MemorySample:
    """Summed RSS of the processes whose command line contains ``cmdline_substring``.

    For the Dagster sensor that measures its in-flight run workers (e.g. "execute_run"). The
    calling process is left out unless ``include_self``. ``processes`` may be 0 (RSS 0).
    """
    if not cmdline_substring:
        raise ValueError("sample_matching needs a non-empty command-line substring")
    own = os.getpid()
    rss, count = 0, 0
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            info = proc.info
            if info["pid"] == own and not include_self:
                continue
            if cmdline_substring not in " ".join(info["cmdline"] or ()):
                continue
            rss += proc.memory_info().rss
            count += 1
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return MemorySample(rss, psutil.virtual_memory().percent, count)


class MemoryGuard:
    """Stateful guard: ``check()`` samples memory and applies ``evaluate`` to its last decision.

    Thread-safe. ``paused_checks`` counts the checks that answered "paused".
    """

    def __init__(
        self,
        high_rss_bytes: int,
        low_rss_bytes: int,
        high_system_percent: float,
        low_system_percent: float,
        sample: Callable[[], MemorySample] = sample_own_process,
    ) -> None:
        self.marks = MemoryMarks(
            high_rss_bytes, low_rss_bytes, high_system_percent, low_system_percent
        )
        self._sample = sample
        self._lock = threading.Lock()
        self._state: PressureState | None = None
        self.paused_checks = 0

    @property
    def last(self) -> PressureState | None:
        """The last decision, or None before the first ``check``."""
        return self._state

    def check(self) -> PressureState:
        """Sample now and decide; the decision becomes the guard's state."""
        sample = self._sample()
        with self._lock:
            previously = self._state is not None and self._state.paused
            self._state = evaluate(previously, sample, self.marks)
            if self._state.paused:
                self.paused_checks += 1
            return self._state

    def __repr__(self) -> str:
        m = self.marks
        return (
            f"MemoryGuard(RSS {format_bytes(m.low_rss_bytes)}..{format_bytes(m.high_rss_bytes)},"
            f" system {m.low_system_percent:g}..{m.high_system_percent:g} %)"
        )
