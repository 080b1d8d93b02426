"""MemoryGuard: hysteresis on scripted samples, figures in the reasons, and real psutil samples."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from pipeline_defs.pressure import (
    MemoryGuard,
    MemoryMarks,
    MemorySample,
    evaluate,
    sample_matching,
    sample_own_process,
    sample_process_tree,
)

MB = 1_000_000
MARKS = MemoryMarks(800 * MB, 700 * MB, 90.0, 80.0)


def scripted(samples: list[MemorySample]):
    it = iter(samples)
    return lambda: next(it)


def test_hysteresis_on_a_scripted_sequence() -> None:
    sequence = [
        MemorySample(600 * MB, 50.0),  # below everything: running
        MemorySample(750 * MB, 85.0),  # between the marks from unpaused: stays running
        MemorySample(912 * MB, 50.0),  # RSS above high: pause
        MemorySample(750 * MB, 50.0),  # between the RSS marks: stays paused
        MemorySample(650 * MB, 85.0),  # RSS below low, system between marks: stays paused
        MemorySample(650 * MB, 79.9),  # both below low: resume
        MemorySample(650 * MB, 93.1),  # system above high: pause
        MemorySample(0, 0.0),  # resume
    ]
    guard = MemoryGuard(800 * MB, 700 * MB, 90.0, 80.0, sample=scripted(sequence))
    decisions = [guard.check() for _ in sequence]

    assert [d.paused for d in decisions] == [False, False, True, True, True, False, True, False]
    assert [d.sample for d in decisions] == sequence
    assert decisions[2].reason == "RSS 912 MB ≥ 800 MB"
    assert decisions[3].reason == "still paused: RSS 750 MB ≥ low mark 700 MB"
    assert decisions[4].reason == "still paused: system memory 85.0 % ≥ low mark 80 %"
    assert decisions[6].reason == "system memory 93.1 % ≥ 90 %"
    assert decisions[0].reason is None and decisions[5].reason is None
    assert guard.paused_checks == 4 and guard.last is decisions[-1]


def test_both_high_marks_are_named_and_the_marks_are_inclusive() -> None:
    state = evaluate(False, MemorySample(800 * MB, 90.0), MARKS)
    assert state.paused and state.reason == "RSS 800 MB ≥ 800 MB; system memory 90.0 % ≥ 90 %"
    assert not evaluate(False, MemorySample(800 * MB - 1, 89.99), MARKS).paused
    assert evaluate(True, MemorySample(700 * MB, 10.0), MARKS).paused  # at the low mark: held
    assert not evaluate(True, MemorySample(700 * MB - 1, 79.99), MARKS).paused


@pytest.mark.parametrize(
    ("marks", "message"),
    [
        ((800 * MB, 800 * MB, 90.0, 80.0), r"low RSS 800 MB \(800,000,000 B\) must be ≥ 0 and <"),
        ((800 * MB, 700 * MB, 80.0, 85.0), r"low system memory 85 % must be ≥ 0 and < high"),
    ],
)
def test_low_marks_must_be_below_high_marks(marks: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MemoryGuard(*marks)


def test_own_process_sample_is_this_process() -> None:
    sample = sample_own_process()
    assert sample.processes == 1
    # Independent source: the kernel's own figure for this process.
    status = Path("/proc/self/status").read_text()
    vm_rss_kb = int(
        next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]
    )
    assert abs(sample.rss_bytes - vm_rss_kb * 1024) < 16 * MB
    assert 0 < sample.system_percent < 100


@pytest.fixture
def hog():
    """A child holding 64 MB resident, with a unique marker on its command line."""
    marker = f"backwater-memory-hog-{time.monotonic_ns()}"
    code = (
        "import sys; block = bytearray(64_000_000); block[::4096] = b'x' * len(block[::4096]);"
        " print('ready', flush=True); sys.stdin.read()"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, marker],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline().strip() == "ready"
    yield child, marker
    child.kill()
    child.wait()


def test_matching_and_tree_samples_see_the_child(hog) -> None:
    child, marker = hog
    child_rss = psutil.Process(child.pid).memory_info().rss
    assert child_rss >= 64 * MB

    matched = sample_matching(marker)
    assert matched.processes == 1 and matched.rss_bytes >= 64 * MB
    assert sample_matching(marker + "-nobody").processes == 0
    assert sample_matching(marker + "-nobody").rss_bytes == 0

    tree = sample_process_tree(psutil.Process().pid)  # this process + the child (+ any others)
    assert tree.processes >= 2
    assert tree.rss_bytes >= sample_own_process().rss_bytes // 2 + 64 * MB
    assert sample_process_tree(child.pid).rss_bytes >= 64 * MB
