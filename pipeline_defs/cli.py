"""``backwater``: the command line.

backwater run [PATH...] [--speed X]   the main job, headless, on the real Dagster daemon
backwater replay PATH... [--speed X]  feed files into the landing queue (blocks when full)
backwater status                      queue depth, bytes, oldest age, leases, last batches
backwater ui [--port N]               the Dagster UI (dagster dev) on this workspace
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from pydantic import ValidationError
from pydantic_settings import SettingsError

from pipeline_defs.settings import Settings, get_settings


def _default_sources(settings: Settings) -> list[Path]:
    from pipeline_defs.ingress.sources import DEFAULT_REPLAY_SOURCES

    return [settings.source_data_dir / name for name in DEFAULT_REPLAY_SOURCES]


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline_defs.runner.main_job import run_main_job

    paths = args.paths or _default_sources(settings)
    result = run_main_job(
        settings, paths, speed=args.speed, spill=args.spill, timeout_seconds=args.timeout
    )
    return result.status


def cmd_storm(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline_defs.runner.storm import run_storm

    paths = args.paths or [settings.source_data_dir / "air_quality_pittsburgh"]
    return 0 if run_storm(settings, paths).ok else 1


def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline_defs.ingress.replay import blocking_admit, describe_skipped, replay
    from pipeline_defs.landing.queue import LandingQueue
    from pipeline_defs.spill.producer import SpillingProducer

    missing = [str(path) for path in args.paths if not path.exists()]
    if missing:
        print(f"backwater replay: not found: {', '.join(missing)}", file=sys.stderr)
        return 2
    last = [0.0]

    def show(progress) -> None:
        if time.monotonic() - last[0] >= 2:
            last[0] = time.monotonic()
            print(
                f"admitted {progress.admitted:,}/{progress.readings_total:,} "
                f"({progress.spilled:,} spilled; {progress.blocked_seconds:.1f} s in admission)",
                flush=True,
            )

    with LandingQueue.from_settings(settings) as queue:
        admit = blocking_admit(queue)
        if args.spill:
            producer = SpillingProducer(queue, _spill_store(settings), settings.spill_after_seconds)
            admit = lambda envelope: producer.put(envelope).value  # noqa: E731
        progress = replay(args.paths, admit, settings, speed=args.speed, on_envelope=show)
    if skipped := describe_skipped(progress.skipped_files):
        print(skipped)
    print(
        f"{progress.files} files, {progress.values_read:,} values read, "
        f"{progress.enqueued:,} enqueued, {progress.spilled:,} spilled, "
        f"{progress.quarantined_total:,} quarantined {dict(progress.quarantined)}"
    )
    return 0


def _spill_store(settings: Settings):
    from pipeline_defs.spill.segments import SpillStore

    return SpillStore(settings.spill_dir, settings.spill_disk_budget_bytes)


def cmd_spill_list(args: argparse.Namespace, settings: Settings) -> int:
    store = _spill_store(settings)
    print(f"{'segment':<32} {'state':<12} {'readings':>10} {'bytes':>12}  created")
    for segment in store.list():
        created = (
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(segment.created_at))
            if segment.created_at
            else "—"
        )
        records = "?" if segment.records is None else f"{segment.records:,}"
        fault = f"  ({segment.fault}: {segment.fault_detail})" if segment.fault else ""
        print(
            f"{segment.id:<32} {segment.state.value:<12} {records:>10} {segment.bytes:>12,}  "
            f"{created}{fault}"
        )
    stats = store.stats()
    print(
        f"{stats.pending_segments} pending ({stats.pending_records:,} readings, "
        f"{stats.utilisation:.1%} of the {stats.budget_bytes:,} B budget), "
        f"{stats.archived_segments} archived, {stats.quarantined_segments} quarantined"
    )
    return 0


def cmd_spill_backfill(args: argparse.Namespace, settings: Settings) -> int:
    from dagster import DagsterInstance

    from pipeline_defs.runner.backfill import launch_spill_backfill, wait_for_backfill
    from pipeline_defs.runner.instance import prepare_dagster_home
    from pipeline_defs.spill.segments import SegmentState

    segment_ids = args.segments or (
        [s.id for s in _spill_store(settings).list(SegmentState.PENDING)] if args.all else []
    )
    if not segment_ids:
        if args.all:
            print("nothing to backfill: no spill segment is pending")
            return 0
        print("nothing to backfill: name segments or pass --all (see `backwater spill list`)")
        return 2
    prepare_dagster_home(settings)
    instance = DagsterInstance.get()
    backfill_id = launch_spill_backfill(instance, segment_ids)
    print(
        f"backfill {backfill_id} launched for {len(segment_ids)} segment(s); "
        "the running daemon (`backwater ui` or dagster-daemon) executes it"
    )
    if args.wait:
        status = wait_for_backfill(instance, backfill_id, timeout=args.timeout)
        print(f"backfill {backfill_id}: {status.value}")
        return 0 if status.value in ("COMPLETED", "COMPLETED_SUCCESS") else 1
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    spill = _spill_store(settings).stats()
    from pipeline_defs.lake.manifest import LakeManifest
    from pipeline_defs.landing.queue import LandingQueue

    with LandingQueue.from_settings(settings) as queue:
        stats = queue.stats()
    oldest = "—" if stats.oldest_age_seconds is None else f"{stats.oldest_age_seconds:,.1f} s"
    print(f"landing queue   {settings.queue_path}")
    print(
        f"  depth         {stats.depth_records:,} / {stats.max_records:,} records "
        f"({stats.depth_entries:,} envelopes)"
    )
    print(
        f"  bytes         {stats.bytes:,} / {stats.max_bytes:,}"
        f"  utilisation {stats.utilisation:.1%}"
    )
    print(f"  oldest age    {oldest}")
    print(
        f"  leases        {stats.leased_batches} batches, {stats.leased_records:,} records "
        f"({stats.expired_batches} expired)"
    )
    print(
        f"  totals        {stats.put_records_total:,} put, {stats.acked_records_total:,} acked, "
        f"{stats.redeliveries_total} redeliveries"
    )
    print(
        f"spill           {spill.pending_segments} segments pending "
        f"({spill.pending_records:,} readings, {spill.utilisation:.1%} of budget), "
        f"{spill.archived_segments} archived, {spill.quarantined_segments} quarantined"
    )
    manifest = LakeManifest(settings.manifest_path)
    try:
        totals = manifest.totals()
        recent = manifest.recent_batches(args.last)
    finally:
        manifest.close()
    print(
        f"lake            {totals.batches:,} batches, {totals.landed:,} readings, "
        f"{totals.duplicates:,} duplicates collapsed"
    )
    for batch in recent:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(batch.committed_at))
        print(
            f"  #{batch.commit_seq:<5} {batch.batch_id}  {when}  {batch.records_in:>7,} in "
            f"{batch.landed:>7,} landed {batch.duplicates:>7,} dup  ({batch.origin})"
        )
    return 0


def cmd_ui(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline_defs.runner.instance import InstanceBusy, run_webserver

    try:
        return run_webserver(settings, args.port)
    except InstanceBusy as busy:
        print(f"backwater ui: not started: {busy}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="backwater", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the main job headless on the Dagster daemon")
    run.add_argument(
        "paths", nargs="*", type=Path, help="files or folders (default: the demo data)"
    )
    run.add_argument(
        "--speed", type=float, help="event-time speed-up factor (default: as fast as possible)"
    )
    run.add_argument("--timeout", type=float, default=1800, help="give up after this many seconds")
    run.add_argument(
        "--spill",
        action="store_true",
        help="spill when the queue stays full, then replay the spilled segments as a backfill",
    )
    run.set_defaults(handler=cmd_run)

    storm = commands.add_parser("storm", help="the storm scenario (calm run vs burst, compared)")
    storm.add_argument("paths", nargs="*", type=Path, help="default: all Pittsburgh monitors")
    storm.set_defaults(handler=cmd_storm)

    spill = commands.add_parser("spill", help="spill segments").add_subparsers(
        dest="spill_command", required=True
    )
    spill.add_parser("list", help="segments with counts and state").set_defaults(
        handler=cmd_spill_list
    )
    backfill = spill.add_parser("backfill", help="replay segments as a Dagster backfill")
    backfill.add_argument("segments", nargs="*", help="segment ids (default with --all: pending)")
    backfill.add_argument("--all", action="store_true", help="every pending segment")
    backfill.add_argument("--wait", action="store_true", help="wait until the backfill finishes")
    backfill.add_argument("--timeout", type=float, default=1800)
    backfill.set_defaults(handler=cmd_spill_backfill)

    rep = commands.add_parser("replay", help="feed files into the landing queue")
    rep.add_argument("paths", nargs="+", type=Path)
    rep.add_argument("--speed", type=float, help="event-time speed-up factor")
    rep.add_argument("--spill", action="store_true", help="spill when the queue stays full")
    rep.set_defaults(handler=cmd_replay)

    status = commands.add_parser("status", help="queue and lake status")
    status.add_argument("--last", type=int, default=5, help="how many recent batches to list")
    status.set_defaults(handler=cmd_status)

    ui = commands.add_parser("ui", help="start the Dagster UI on this workspace and instance")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(handler=cmd_ui)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
    except (ValidationError, SettingsError) as error:
        print(
            "backwater: invalid settings (BACKWATER_* environment variables; lists are JSON, "
            f"e.g. BACKWATER_SLIDING_WINDOW_HOURS='[8, 24]'):\n{error}",
            file=sys.stderr,
        )
        return 2
    # SIGTERM unwinds like Ctrl-C, so `finally` blocks stop the daemon this process started
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return args.handler(args, settings)
    except KeyboardInterrupt:
        print("backwater: interrupted; the daemon it started was stopped", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `backwater status | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
