"""``backwater``: the command line.

backwater run [PATH...] [--speed X]   the main job, headless, on the real Dagster daemon
backwater replay PATH... [--speed X]  feed files into the landing queue (blocks when full)
backwater status                      queue depth, bytes, oldest age, leases, last batches
backwater ui [--port N]               the Dagster UI (dagster dev) on this workspace
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from pipeline_defs.settings import Settings, get_settings


def _default_sources(settings: Settings) -> list[Path]:
    from pipeline_defs.ingress.sources import DEFAULT_REPLAY_SOURCES

    return [settings.source_data_dir / name for name in DEFAULT_REPLAY_SOURCES]


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline_defs.runner.main_job import run_main_job

    paths = args.paths or _default_sources(settings)
    return run_main_job(settings, paths, speed=args.speed, timeout_seconds=args.timeout)


def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline_defs.ingress.replay import replay
    from pipeline_defs.landing.queue import LandingQueue

    last = [0.0]

    def show(progress) -> None:
        if time.monotonic() - last[0] >= 2:
            last[0] = time.monotonic()
            print(
                f"enqueued {progress.enqueued:,}/{progress.readings_total:,} "
                f"(blocked {progress.blocked_seconds:.1f} s)",
                flush=True,
            )

    with LandingQueue.from_settings(settings) as queue:
        progress = replay(args.paths, queue, settings, speed=args.speed, on_envelope=show)
    print(
        f"{progress.files} files, {progress.values_read:,} values read, "
        f"{progress.enqueued:,} enqueued, {progress.quarantined_total:,} quarantined "
        f"{dict(progress.quarantined)}"
    )
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
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
    from pipeline_defs.runner.instance import run_webserver

    return run_webserver(settings, args.port)


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
    run.set_defaults(handler=cmd_run)

    rep = commands.add_parser("replay", help="feed files into the landing queue")
    rep.add_argument("paths", nargs="+", type=Path)
    rep.add_argument("--speed", type=float, help="event-time speed-up factor")
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
    return args.handler(args, get_settings())


if __name__ == "__main__":
    sys.exit(main())
