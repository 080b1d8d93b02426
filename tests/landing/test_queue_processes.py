"""LandingQueue across real processes: ``kill -9`` mid-way, and concurrent producers.

Children (``tests/landing/child.py``) print a seq or batch id only after the call returned, so
what they printed is a lower bound of what the file must hold; at most one further call may have
committed without being printed before the kill.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipeline_defs.landing import LandingQueue
from tests.landing.helpers import make_envelope, raw_view, reading_ids

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def start_child() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start ``tests.landing.child`` with these arguments; SIGKILL any still alive at the end."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: object) -> subprocess.Popen[str]:
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.landing.child", *map(str, args)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(child)
        return child

    yield start
    for child in started:
        if child.poll() is None:
            child.kill()
            child.wait()


def read_lines(child: subprocess.Popen[str], n: int) -> list[str]:
    lines = []
    while len(lines) < n:
        line = child.stdout.readline()
        assert line, f"child ended early (rc {child.wait()}): {child.stderr.read()}"
        lines.append(line.strip())
    return lines


def kill_9(child: subprocess.Popen[str]) -> list[str]:
    """SIGKILL the child; return the lines it had printed but we had not read yet."""
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL
    rest = child.stdout.read().splitlines()
    child.stdout.close()
    child.stderr.close()
    return rest


@pytest.mark.parametrize("delay", [0.0, 0.002, 0.005])
def test_kill_9_during_puts_keeps_every_returned_put_exactly_once(
    tmp_path: Path, delay: float, start_child: Callable[..., subprocess.Popen[str]]
) -> None:
    """The kill comes ``delay`` s after the 20th put returned: each lands at another point."""
    path = tmp_path / "queue.sqlite"
    size = 2_000
    child = start_child("put", path, "--size", size, "--pad", 40)
    lines = read_lines(child, 20)
    time.sleep(delay)
    lines += kill_9(child)
    printed = {int(seq): int(first) for seq, first in (line.split() for line in lines)}

    raw = raw_view(path)
    assert raw.recount == raw.stats_row
    assert set(raw.id_counts.values()) == {1}
    for seq, first in printed.items():
        assert raw.ids_by_seq[seq] == list(range(first, first + size))
    unprinted = raw.ids_by_seq.keys() - printed.keys()
    assert unprinted <= {max(printed) + 1}  # a put that committed but had not returned yet
    assert sorted(raw.ids_by_seq) == list(range(1, len(raw.ids_by_seq) + 1))

    with LandingQueue.open(path, 10**9, 2**40) as queue:
        stats = queue.stats()
        assert (stats.depth_entries, stats.depth_records) == (
            len(raw.ids_by_seq),
            size * len(raw.ids_by_seq),
        )
        assert queue.put(make_envelope([-1])) == max(raw.ids_by_seq) + 1


def test_kill_9_while_leasing_redelivers_the_same_batches(
    tmp_path: Path, start_child: Callable[..., subprocess.Popen[str]]
) -> None:
    path = tmp_path / "queue.sqlite"
    with LandingQueue.open(path, 10**6, 2**40) as queue:
        for k in range(120):
            queue.put(make_envelope(range(k * 10, k * 10 + 10)))
    child = start_child("lease", path, "--max-records", 20, "--lease-seconds", 60)
    printed = read_lines(child, 8)
    printed += kill_9(child)
    assert 8 <= len(printed) <= 60  # 60 leases of 2 entries take all 120

    raw = raw_view(path)
    assert raw.recount == raw.stats_row
    assert raw.stats_row["leased_batches"] in (len(printed), len(printed) + 1)

    later = time.time() + 3_600  # every lease of the child has expired by then
    with LandingQueue.open(path, 10**6, 2**40, 60, clock=lambda: later) as queue:
        redelivered = []
        while (lease := queue.lease(20)) is not None and lease.attempt == 2:
            redelivered.append(lease)
        assert lease is not None and lease.attempt == 1  # then new leases resume after them
        assert [r.batch_id for r in redelivered[: len(printed)]] == printed
        assert len(redelivered) - len(printed) in (0, 1)  # one committed before it was printed
        acked: Counter[int] = Counter()
        for r in redelivered:
            seqs = range(r.first_seq, r.last_seq + 1)
            assert reading_ids(r.readings) == [i for s in seqs for i in range(s * 10 - 10, s * 10)]
            acked.update(reading_ids(r.readings))
            assert queue.ack(r.batch_id)
        while lease is not None:
            acked.update(reading_ids(lease.readings))
            assert queue.ack(lease.batch_id)
            lease = queue.lease(20)
        assert acked == Counter(range(1_200))
        stats = queue.stats()
        assert (stats.depth_records, stats.bytes, stats.leased_batches) == (0, 0, 0)
        assert stats.redeliveries_total == len(redelivered)


def test_two_producers_and_a_consumer_lose_nothing(
    tmp_path: Path, start_child: Callable[..., subprocess.Popen[str]]
) -> None:
    """Two processes put into a queue bounded at 10 envelopes while this one leases and acks."""
    path = tmp_path / "queue.sqlite"
    size, count = 20, 60
    bound = ["--max-records", 10 * size]
    producers = [
        start_child("put", path, *bound, "--size", size, "--count", count, "--first-id", base)
        for base in (0, 100_000)
    ]
    acked: Counter[int] = Counter()
    batches = 0
    most_depth = 0
    with LandingQueue.open(path, 10 * size, 2**40, put_poll_seconds=0.002) as queue:
        deadline = time.monotonic() + 60
        while sum(acked.values()) < 2 * size * count and time.monotonic() < deadline:
            most_depth = max(most_depth, queue.stats().depth_records)
            lease = queue.lease(3 * size)
            if lease is None:
                time.sleep(0.005)
                continue
            acked.update(reading_ids(lease.readings))
            assert queue.ack(lease.batch_id)
            batches += 1
        stats = queue.stats()
    outputs = [p.communicate(timeout=30) for p in producers]
    assert [p.returncode for p in producers] == [0, 0], [err for _, err in outputs]

    seqs = [[int(line.split()[0]) for line in out.splitlines()] for out, _ in outputs]
    assert all(s == sorted(s) and len(s) == count for s in seqs)  # each producer's seqs increase
    assert not set(seqs[0]) & set(seqs[1])
    expected = Counter(range(size * count)) + Counter(range(100_000, 100_000 + size * count))
    assert acked == expected  # every reading of both producers acked exactly once
    assert most_depth <= 10 * size
    assert (stats.depth_records, stats.acked_batches_total) == (0, batches)
    assert stats.put_entries_total == 2 * count
    raw = raw_view(path)
    assert raw.recount == raw.stats_row == dict.fromkeys(raw.recount, 0)
