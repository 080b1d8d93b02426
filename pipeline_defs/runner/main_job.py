"""The main job, headless: replay real telemetry through the real Dagster daemon, then reconcile.

1. start ``dagster-daemon`` on this workspace (its sensors launch ingest and window runs);
2. replay the sources into the landing queue — blocking on a full queue, or (``spill=True``)
   spilling to disk when the queue stays full and pausing while the producer's memory is high;
3. wait until the queue is drained, every run has finished and the lake sensor has handled every
   commit, printing progress;
4. with spill: launch a real backfill of the spilled segments (the daemon runs it), wait for it and
   for the windows it re-materializes;
5. stop the daemon and print the reconciliation; the result says whether it holds.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.scheduler.instigation import InstigatorType

from pipeline_defs.defs.landing.sensors import sample_run_workers
from pipeline_defs.ingress.replay import (
    ReplayProgress,
    blocking_admit,
    describe_skipped,
    replay,
)
from pipeline_defs.ingress.sources import expand_sources
from pipeline_defs.lake.manifest import LakeManifest
from pipeline_defs.landing.queue import LandingQueue
from pipeline_defs.pressure.memory_guard import MemoryGuard, sample_own_process
from pipeline_defs.reconcile import LakeSnapshot, Reconciliation, reconcile
from pipeline_defs.runner.backfill import (
    launch_spill_backfill,
    registered_segments,
    wait_for_backfill,
)
from pipeline_defs.runner.instance import (
    InstanceBusy,
    instance_lock,
    prepare_dagster_home,
    start_daemon,
    stop_daemon,
)
from pipeline_defs.settings import Settings
from pipeline_defs.spill.producer import SpillingProducer
from pipeline_defs.spill.segments import SegmentState, SpillStore

UNFINISHED = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]
LAKE_SENSOR, LANDING_SENSOR = "lake_commits_sensor", "landing_sensor"
MB = 1_000_000
Echo = Callable[[str], None]


@dataclass
class RunCounts:
    in_flight: int
    succeeded: int
    failed: int
    failures: list[str] = field(default_factory=list)  # "<run id> <job> [stage]: <message>"
    retried: int = 0  # runs that failed (a crashed worker) and that a retry made good


@dataclass
class PeakMemory:
    """Peaks sampled every half second while the job runs."""

    producer_rss: int = 0  # this process: reader + producer (+ its copy of the readings)
    run_workers_rss: int = 0  # all Dagster run worker processes together

    def watch(self, stop: threading.Event, dagster_home: str) -> None:
        while not stop.wait(0.5):
            self.producer_rss = max(self.producer_rss, sample_own_process().rss_bytes)
            self.run_workers_rss = max(
                self.run_workers_rss, sample_run_workers(dagster_home).rss_bytes
            )


@dataclass
class MainJobResult:
    status: int  # process exit status: 0 when everything ran and reconciles
    progress: ReplayProgress
    reconciliation: Reconciliation | None = None
    peaks: PeakMemory = field(default_factory=PeakMemory)
    holds: Counter[str] = field(default_factory=Counter)  # landing-sensor skip reasons by cause
    spilled_segments: int = 0
    replayed_records: int = 0
    drained_seconds: float | None = None  # end of burst -> queue and spill empty, windows done
    runs: RunCounts | None = None


def run_counts(instance: DagsterInstance, since: float, *, describe: bool = False) -> RunCounts:
    """Runs created since ``since``; a failed run that a retry (same root run) made good is not
    counted as failed. ``describe`` also reads each failed run's error for ``failures``."""
    created_after = datetime.fromtimestamp(since, UTC)

    def runs(statuses: list[DagsterRunStatus]):
        return instance.get_runs(RunsFilter(statuses=statuses, created_after=created_after))

    def root(run) -> str:
        return run.tags.get("dagster/root_run_id", run.run_id)

    succeeded = runs([DagsterRunStatus.SUCCESS])
    made_good = {root(run) for run in succeeded}
    unsuccessful = runs([DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED])
    failed = [run for run in unsuccessful if root(run) not in made_good]
    return RunCounts(
        in_flight=instance.get_runs_count(
            RunsFilter(statuses=UNFINISHED, created_after=created_after)
        ),
        succeeded=len(succeeded),
        failed=len(failed),
        retried=len(unsuccessful) - len(failed),
        failures=[_describe_failure(instance, run) for run in failed] if describe else [],
    )


def _describe_failure(instance: DagsterInstance, run) -> str:
    events = instance.all_logs(run.run_id, of_type=DagsterEventType.RUN_FAILURE)
    message = events[-1].message if events else run.status.value
    stage = run.tags.get("backwater/stage", "ui")
    return f"{run.run_id} {run.job_name} [{stage}]: {(message or '').strip()[:300]}"


def _sensor_state(instance: DagsterInstance, name: str):
    for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
        if state.name == name:
            return state
    return None


def sensor_cursor(instance: DagsterInstance, name: str) -> int:
    state = _sensor_state(instance, name)
    if state and state.instigator_data and state.instigator_data.cursor:
        return int(state.instigator_data.cursor)
    return 0


def hold_reasons(instance: DagsterInstance, since: float) -> Counter[str]:
    """Landing-sensor ticks since ``since`` that held back, by cause (memory / concurrency)."""
    state = _sensor_state(instance, LANDING_SENSOR)
    holds: Counter[str] = Counter()
    if state is None:
        return holds
    for tick in instance.get_ticks(state.instigator_origin_id, state.selector_id, after=since):
        reason = tick.skip_reason or ""
        if reason.startswith("memory:"):
            holds["memory"] += 1
        elif "ingest runs in flight" in reason:
            holds["concurrency"] += 1
    return holds


def run_main_job(
    settings: Settings,
    paths: list[Path],
    *,
    speed: float | None = None,
    spill: bool = False,
    timeout_seconds: float = 1800,
    report_every: float = 5.0,
    echo: Echo = print,
) -> MainJobResult:
    """The main job on ``settings``' instance, which it holds alone (see ``instance_lock``)."""
    try:
        with instance_lock(settings, "backwater run"):
            return _run_main_job(settings, paths, speed, spill, timeout_seconds, report_every, echo)
    except InstanceBusy as busy:
        echo(f"not started: {busy}")
        return MainJobResult(status=2, progress=ReplayProgress())


def _run_main_job(
    settings: Settings,
    paths: list[Path],
    speed: float | None,
    spill: bool,
    timeout_seconds: float,
    report_every: float,
    echo: Echo,
) -> MainJobResult:
    missing = [str(path) for path in paths if not path.exists()]
    if missing:
        echo(
            f"source path(s) not found: {', '.join(missing)} (the default sources are read from "
            f"BACKWATER_SOURCE_DATA_DIR={settings.source_data_dir})"
        )
        return MainJobResult(status=2, progress=ReplayProgress())
    listing = expand_sources(paths)
    if not listing.telemetry:
        echo(
            f"no readable telemetry files (USGS WaterML-JSON, ESDR CSV) under: "
            f"{', '.join(str(p) for p in paths)}"
        )
        return MainJobResult(status=2, progress=ReplayProgress())
    prepare_dagster_home(settings)
    instance = DagsterInstance.get()
    queue = LandingQueue.from_settings(settings)
    store = SpillStore(settings.spill_dir, settings.spill_disk_budget_bytes)
    before = LakeSnapshot.take(settings)
    # readings left by an earlier interrupted run or `backwater replay` land in this run too
    before.queue_depth = queue.stats().depth_records
    before.spill_pending = store.stats().pending_records
    before.spill_quarantined = store.stats().quarantined_records
    started = time.time()
    daemon = start_daemon(settings, settings.data_dir / "logs" / "dagster-daemon.log")
    echo(f"dagster-daemon started (pid {daemon.pid}); DAGSTER_HOME={settings.dagster_home}")
    echo(f"replaying {', '.join(str(p) for p in paths)}" + (" (spill on)" if spill else ""))
    if skipped := describe_skipped(listing.skipped):
        echo(skipped)

    result = MainJobResult(status=0, progress=ReplayProgress())
    stop_watch = threading.Event()
    threading.Thread(
        target=result.peaks.watch, args=(stop_watch, str(settings.dagster_home)), daemon=True
    ).start()
    failure: list[BaseException] = []
    producer = threading.Thread(
        # the listing made above: the producer reads exactly these files, without a second scan
        target=_produce,
        args=(settings, listing.telemetry, speed, spill, result.progress, failure),
        daemon=True,
    )
    producer.start()
    waiter = _Waiter(
        instance,
        queue,
        settings,
        result,
        failure,
        daemon,
        started,
        timeout_seconds,
        report_every,
        echo,
    )
    try:
        result.status = waiter.until_settled()
        pending = [s.id for s in store.list(SegmentState.PENDING)]
        if result.status == 0 and pending:
            result.status = _replay_spill(instance, pending, waiter, echo)
        result.spilled_segments = len(store.list()) - len(store.list(SegmentState.QUARANTINED))
    finally:
        stop_daemon(daemon)
        stop_watch.set()
    producer.join(timeout=5)
    if result.progress.burst_ended_at is not None:
        result.drained_seconds = time.time() - result.progress.burst_ended_at
    if failure:
        echo(f"replay failed: {failure[0]!r}")
        result.status = 2
        return result

    after = LakeSnapshot.take(settings)
    spill_stats = store.stats()
    queue_depth = queue.stats().depth_records
    queue.close()
    result.replayed_records = after.spill_records - before.spill_records
    result.reconciliation = reconcile(
        result.progress,
        before,
        after,
        queue_depth,
        spill_stats.pending_records,
        spill_stats.quarantined_records,
    )
    echo(result.reconciliation.render())
    result.runs = run_counts(instance, started, describe=True)
    result.holds = hold_reasons(instance, started)
    echo(
        f"runs: {result.runs.succeeded} succeeded, {result.runs.failed} failed"
        + (f" ({result.runs.retried} made good by a retry)" if result.runs.retried else "")
        + "; "
        f"landing sensor held back {result.holds['memory']} tick(s) for memory and "
        f"{result.holds['concurrency']} for concurrency; elapsed {time.time() - started:.0f} s"
    )
    for failure in result.runs.failures:
        echo(f"  FAILED RUN (not retried): {failure}")
    if result.runs.failed:
        echo(
            "  the lake is consistent but some outputs may be stale: fix the cause, then run "
            "again (or re-materialize those assets from the UI)"
        )
    if result.status == 0 and not (result.reconciliation.ok and result.runs.failed == 0):
        result.status = 1
    return result


def _produce(settings, paths, speed, spill, progress, failure) -> None:
    queue = LandingQueue.from_settings(settings)
    try:
        if spill:
            guard = MemoryGuard(
                int(settings.producer_rss_high_mb * MB),
                int(settings.producer_rss_low_mb * MB),
                settings.system_memory_high_percent,
                settings.system_memory_low_percent,
            )
            store = SpillStore(settings.spill_dir, settings.spill_disk_budget_bytes)
            producer = SpillingProducer(queue, store, settings.spill_after_seconds, guard=guard)
            replay(
                paths,
                lambda envelope: producer.put(envelope).value,
                settings,
                speed=speed,
                progress=progress,
            )
        else:
            replay(paths, blocking_admit(queue), settings, speed=speed, progress=progress)
    except BaseException as error:  # reported by the main thread
        failure.append(error)
        progress.done = True
    finally:
        queue.close()


def _replay_spill(instance, pending: list[str], waiter: _Waiter, echo: Echo) -> int:
    """Backfill the spilled segments through the daemon, then wait for their windows."""
    echo(
        f"{len(pending)} spilled segment(s) pending; waiting for the spill sensor to register them"
    )
    deadline = time.time() + 120
    while not set(pending) <= set(registered_segments(instance)):
        if time.time() > deadline:
            echo("spill sensor did not register the segments within 120 s")
            return 5
        time.sleep(2)
    backfill_id = launch_spill_backfill(instance, pending)
    echo(f"backfill {backfill_id} launched for {len(pending)} segment(s); the daemon runs it")
    status = wait_for_backfill(instance, backfill_id, timeout=waiter.timeout_seconds)
    echo(f"backfill {backfill_id}: {status.value}")
    if status.value not in ("COMPLETED", "COMPLETED_SUCCESS"):
        return 6
    return waiter.until_settled()


@dataclass
class _Waiter:
    """Polls until the queue is drained, no run is in flight and the lake sensor caught up."""

    instance: DagsterInstance
    queue: LandingQueue
    settings: Settings
    result: MainJobResult
    failure: list[BaseException]
    daemon: subprocess.Popen
    started: float
    timeout_seconds: float
    report_every: float
    echo: Echo

    def until_settled(self) -> int:
        last_report = 0.0
        settled_since: float | None = None
        progress = self.result.progress
        while True:
            time.sleep(1.0)
            if self.daemon.poll() is not None:
                self.echo(
                    f"dagster-daemon exited with status {self.daemon.returncode}; see data/logs/"
                )
                return 3
            stats = self.queue.stats()
            counts = run_counts(self.instance, self.started)
            manifest = LakeManifest(self.settings.manifest_path)
            try:
                last_commit = manifest.totals().last_commit_seq
            finally:
                manifest.close()
            cursor = sensor_cursor(self.instance, LAKE_SENSOR)
            now = time.time()
            if now - last_report >= self.report_every:
                last_report = now
                total = progress.readings_total
                read = (
                    f"{progress.admitted:,}/{total:,} admitted ({progress.spilled:,} spilled)"
                    if total
                    else f"{progress.files} files read"
                )
                self.echo(
                    f"[{now - self.started:5.0f} s] replay: {read} · queue "
                    f"{stats.depth_records:,} records ({stats.utilisation:.0%}), "
                    f"{stats.leased_batches} leased · lake commit #{last_commit}, windows up to "
                    f"#{cursor} · runs {counts.in_flight} in flight, {counts.succeeded} ok, "
                    f"{counts.failed} failed"
                )
            if self.failure:
                return 0
            settled = (
                progress.done
                and stats.depth_records == 0
                and counts.in_flight == 0
                and cursor >= last_commit
            )
            # Stable for a few seconds: a tick may advance its cursor just before its runs appear.
            settled_since = (settled_since or now) if settled else None
            if settled_since is not None and now - settled_since >= 3:
                return 0
            if now - self.started > self.timeout_seconds:
                self.echo(f"timed out after {self.timeout_seconds:.0f} s")
                return 4
