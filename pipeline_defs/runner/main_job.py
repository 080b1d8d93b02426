"""The main job, headless: replay real telemetry through the real Dagster daemon, then reconcile.

1. start ``dagster-daemon`` on this workspace (its sensors launch ingest and window runs);
2. replay the sources into the landing queue (backpressure blocks the replay when it is full);
3. wait until the queue is drained, every run has finished and the lake sensor has handled every
   commit, printing progress;
4. stop the daemon and print the reconciliation; the exit status says whether it holds.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.scheduler.instigation import InstigatorType

from pipeline_defs.ingress.replay import ReplayProgress, replay
from pipeline_defs.lake.manifest import LakeManifest
from pipeline_defs.landing.queue import LandingQueue
from pipeline_defs.reconcile import LakeSnapshot, reconcile
from pipeline_defs.runner.instance import prepare_dagster_home, start_daemon, stop_daemon
from pipeline_defs.settings import Settings

UNFINISHED = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]
LAKE_SENSOR = "lake_commits_sensor"


@dataclass
class RunCounts:
    in_flight: int
    succeeded: int
    failed: int


def run_counts(instance: DagsterInstance, since: float) -> RunCounts:
    def count(statuses: list[DagsterRunStatus]) -> int:
        return instance.get_runs_count(RunsFilter(statuses=statuses, created_after=_utc(since)))

    return RunCounts(
        in_flight=count(UNFINISHED),
        succeeded=count([DagsterRunStatus.SUCCESS]),
        failed=count([DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]),
    )


def _utc(epoch: float):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC)


def sensor_cursor(instance: DagsterInstance, name: str) -> int:
    for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
        if state.name == name and state.instigator_data and state.instigator_data.cursor:
            return int(state.instigator_data.cursor)
    return 0


def run_main_job(
    settings: Settings,
    paths: list[Path],
    *,
    speed: float | None = None,
    timeout_seconds: float = 1800,
    report_every: float = 5.0,
    echo=print,
) -> int:
    """Returns the process exit status: 0 when everything reconciles."""
    prepare_dagster_home(settings)
    instance = DagsterInstance.get()
    queue = LandingQueue.from_settings(settings)
    before = LakeSnapshot.take(settings)
    started = time.time()
    daemon = start_daemon(settings, settings.data_dir / "logs" / "dagster-daemon.log")
    echo(f"dagster-daemon started (pid {daemon.pid}); DAGSTER_HOME={settings.dagster_home}")
    echo(f"replaying {', '.join(str(p) for p in paths)}")

    progress = ReplayProgress()
    failure: list[BaseException] = []

    def produce() -> None:
        producer_queue = LandingQueue.from_settings(settings)
        try:
            replay(paths, producer_queue, settings, speed=speed, progress=progress)
        except BaseException as error:  # reported by the main thread
            failure.append(error)
            progress.done = True
        finally:
            producer_queue.close()

    producer = threading.Thread(target=produce, name="replay", daemon=True)
    producer.start()
    try:
        status = _wait_until_settled(
            instance,
            queue,
            settings,
            progress,
            failure,
            daemon,
            started,
            timeout_seconds,
            report_every,
            echo,
        )
    finally:
        stop_daemon(daemon)
    producer.join(timeout=5)
    if failure:
        echo(f"replay failed: {failure[0]!r}")
        return 2
    after = LakeSnapshot.take(settings)
    stats = queue.stats()
    queue.close()
    report = reconcile(
        progress.values_read,
        progress.quarantined,
        progress.enqueued,
        before,
        after,
        stats.depth_records,
    )
    echo(report.render())
    counts = run_counts(instance, started)
    echo(
        f"runs: {counts.succeeded} succeeded, {counts.failed} failed; "
        f"elapsed {time.time() - started:.0f} s"
    )
    if status != 0:
        return status
    return 0 if report.ok and counts.failed == 0 else 1


def _wait_until_settled(
    instance,
    queue,
    settings,
    progress,
    failure,
    daemon,
    started,
    timeout_seconds,
    report_every,
    echo,
) -> int:
    last_report = 0.0
    settled_since: float | None = None
    while True:
        time.sleep(1.0)
        if daemon.poll() is not None:
            echo(f"dagster-daemon exited with status {daemon.returncode}; see data/logs/")
            return 3
        stats = queue.stats()
        counts = run_counts(instance, started)
        manifest = LakeManifest(settings.manifest_path)
        try:
            last_commit = manifest.totals().last_commit_seq
        finally:
            manifest.close()
        cursor = sensor_cursor(instance, LAKE_SENSOR)
        now = time.time()
        if now - last_report >= report_every:
            last_report = now
            total = progress.readings_total or 0
            read = (
                f"{progress.files} files read"
                if not total
                else f"{progress.enqueued:,}/{total:,} enqueued"
            )
            echo(
                f"[{now - started:5.0f} s] replay: {read} · queue {stats.depth_records:,} records "
                f"({stats.utilisation:.0%}), {stats.leased_batches} leased · lake commit "
                f"#{last_commit}, windows up to #{cursor} · runs {counts.in_flight} in flight, "
                f"{counts.succeeded} ok, {counts.failed} failed"
            )
        settled = (
            progress.done
            and stats.depth_records == 0
            and counts.in_flight == 0
            and cursor >= last_commit
        )
        if failure:
            return 0
        # Stable for a few seconds: a tick may advance its cursor just before its runs appear.
        settled_since = (settled_since or now) if settled else None
        if settled_since is not None and now - settled_since >= 3 * report_every / 5:
            return 0
        if now - started > timeout_seconds:
            echo(f"timed out after {timeout_seconds:.0f} s")
            return 4
