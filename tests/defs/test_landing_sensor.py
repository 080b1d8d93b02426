"""The landing sensor holds back, and says why: for memory (with hysteresis, measured on real
processes) and for run concurrency (its own queued + running ingest runs)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest
from dagster._core.test_utils import create_run_for_test

from pipeline_defs.defs.landing.sensors import landing_sensor
from pipeline_defs.defs.resources import BackwaterResource
from pipeline_defs.landing.queue import LandingQueue

HOG = "import sys, time; block = bytearray(int(sys.argv[1]) * 10**6); time.sleep(120)"
# A stand-in for a code server (`dagster api grpc ... <instance ref>`) that spawned a run worker
SERVER = (
    "import subprocess, sys, time;"
    " subprocess.Popen([sys.executable, '-c', sys.argv[1], sys.argv[2], '--multiprocessing-fork']);"
    " time.sleep(120)"
)


@pytest.fixture
def backwater(backwater_with) -> BackwaterResource:
    return backwater_with(
        batch_max_records=5000,
        max_ingest_runs_in_flight=2,
        runs_rss_high_mb=300,
        runs_rss_low_mb=150,
    )


class FakeRunWorker:
    """A code-server-like process of this deployment with one run worker of ``megabytes`` RSS."""

    def __init__(self, dagster_home: Path, megabytes: int) -> None:
        self.server = subprocess.Popen(
            [sys.executable, "-c", SERVER, HOG, str(megabytes), "api grpc", str(dagster_home)],
            start_new_session=True,
        )
        time.sleep(2.0)  # let the worker allocate and touch its memory

    def __enter__(self) -> FakeRunWorker:
        return self

    def __exit__(self, *exc_info) -> None:
        os.killpg(self.server.pid, signal.SIGKILL)
        self.server.wait()


def _tick(instance, backwater, cursor):
    context = dg.build_sensor_context(
        instance=instance, resources={"backwater": backwater}, cursor=cursor
    )
    return landing_sensor(context)


def test_memory_hold_has_hysteresis(backwater: BackwaterResource, pittsburgh_month: pa.Table):
    with LandingQueue.from_settings(backwater.settings) as queue:
        for offset in range(0, 30_000, 5_000):
            queue.put(pittsburgh_month.slice(offset, 5_000))
    with dg.instance_for_test() as instance:
        home = backwater.settings.dagster_home
        with FakeRunWorker(home, 400):  # above the high mark (300 MB)
            held = _tick(instance, backwater, None)
        assert held.run_requests == []
        assert (
            "memory: RSS" in held.skip_reason.skip_message
            and "≥ 300" in held.skip_reason.skip_message
        )

        with FakeRunWorker(home, 220):  # between the marks: stays paused
            still = _tick(instance, backwater, held.cursor)
            fresh = _tick(instance, backwater, None)  # not paused before: stays running
        assert still.run_requests == [] and "still paused" in still.skip_reason.skip_message
        assert len(fresh.run_requests) == 2

        resumed = _tick(instance, backwater, still.cursor)  # below the low mark: resumes
        assert len(resumed.run_requests) == 2


def test_concurrency_hold_counts_queued_and_running_ingest_runs(
    backwater: BackwaterResource, pittsburgh_month: pa.Table
):
    with LandingQueue.from_settings(backwater.settings) as queue:
        queue.put(pittsburgh_month.slice(0, 5_000))
    with dg.instance_for_test() as instance:
        for status in (dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTED):
            create_run_for_test(
                instance, job_name="ingest_job", status=status, tags={"backwater/stage": "ingest"}
            )
        held = _tick(instance, backwater, None)
        assert held.run_requests == []
        assert held.skip_reason.skip_message.startswith("2 ingest runs in flight ≥ limit 2")
        (observation,) = held.asset_events
        assert observation.metadata["ingest_runs_in_flight"].value == 2
