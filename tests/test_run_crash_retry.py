"""Under the real daemon, a ``kill -9`` of a run worker mid-run is made good by the daemon's retry
(all steps re-executed): ``backwater run`` still reconciles with no failed run left, and the lake
holds every reading once."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from pipeline_defs.settings import PROJECT_ROOT
from tests.backwater_cli import backwater_command, backwater_env

pytestmark = pytest.mark.slow

SOURCE = "air_quality_pittsburgh/esdr_raw/Feed_26_Lawrenceville_ACHD.csv"


def _worker_of(run_id: str) -> psutil.Process | None:
    """The run worker executing ``run_id``: the process whose compute-log tail names the run."""
    marker = f"/storage/{run_id}/"
    for proc in psutil.process_iter(["cmdline"]):
        if marker in " ".join(proc.info["cmdline"] or []) and "tail" in proc.info["cmdline"][0]:
            try:
                return proc.parent()
            except psutil.Error:
                return None
    return None


def _started_windows_runs(dagster_home: Path) -> list[str]:
    if not (dagster_home / "dagster.yaml").exists():
        return []
    with DagsterInstance.get() as instance:
        return [
            run.run_id
            for run in instance.get_runs(
                RunsFilter(statuses=[DagsterRunStatus.STARTED], tags={"backwater/stage": "windows"})
            )
        ]


def test_a_killed_run_worker_is_retried_and_the_run_still_reconciles(
    tmp_path: Path, source_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data"
    env = backwater_env(
        data_dir,
        source_data,
        batch_max_records=20_000,
        ingest_max_records_per_second=2_000,  # each ingest run lives ≥ 10 s
        lake_settle_seconds=10,
    )
    main = subprocess.Popen(
        backwater_command("run", "--timeout", "900", str(source_data / SOURCE)),
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    monkeypatch.setenv("DAGSTER_HOME", str(data_dir / "dagster_home"))
    killed: list[str] = []
    try:
        deadline = time.time() + 300
        while not killed and time.time() < deadline and main.poll() is None:
            time.sleep(0.2)
            for run_id in _started_windows_runs(data_dir / "dagster_home"):
                worker = _worker_of(run_id)
                if worker is not None:
                    worker.send_signal(signal.SIGKILL)  # mid-run: its step is executing
                    killed.append(run_id)
                    break
        output, _ = main.communicate(timeout=900)
    finally:
        if main.poll() is None:
            main.kill()
    assert killed, "no window run worker appeared to kill"
    assert main.returncode == 0, output[-6000:]
    assert "RECONCILED" in output and " 0 failed (1 made good by a retry)" in output, output[-3000:]

    with DagsterInstance.get() as instance:
        runs = instance.get_runs()
        retries = [run for run in runs if run.tags.get("dagster/parent_run_id")]
        failed = {run.run_id for run in runs if run.status == DagsterRunStatus.FAILURE}
        assert retries, "the daemon retried no run"
        for retry in retries:  # each retry re-ran all steps of a crashed run, and succeeded
            assert retry.tags["dagster/parent_run_id"] in failed
            assert retry.status == DagsterRunStatus.SUCCESS
            assert retry.tags["dagster/retry_strategy"] == "ALL_STEPS"
        assert set(killed) <= failed  # the killed window run failed, and a retry made it good
        assert {retry.tags["dagster/parent_run_id"] for retry in retries} >= set(killed)
        assert len(failed) == len(retries)
        assert instance.get_runs_count(RunsFilter(statuses=[DagsterRunStatus.STARTED])) == 0
