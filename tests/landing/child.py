"""A separate process for the crash and concurrency tests: `python -m tests.landing.child`.

Modes:
- ``put``: put envelopes of ``--size`` readings numbered from ``--first-id``, ``--count`` times
  (0: for ever); after each put has *returned*, print ``<seq> <first id>`` and flush.
- ``lease``: lease ``--max-records`` at a time and never ack; after each lease has returned, print
  its batch id and flush; when nothing is left, keep polling.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

from pipeline_defs.landing import LandingQueue
from tests.landing.helpers import make_envelope


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["put", "lease"])
    parser.add_argument("path", type=Path)
    parser.add_argument("--max-records", type=int, default=10**9)
    parser.add_argument("--max-bytes", type=int, default=2**40)
    parser.add_argument("--lease-seconds", type=float, default=60.0)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--pad", type=int, default=0)
    parser.add_argument("--first-id", type=int, default=0)
    parser.add_argument("--count", type=int, default=0)
    args = parser.parse_args()
    queue = LandingQueue.open(
        args.path,
        args.max_records,
        args.max_bytes,
        args.lease_seconds,
        put_poll_seconds=0.002,
    )
    if args.mode == "put":
        counter = range(args.count) if args.count else itertools.count()
        for k in counter:
            first = args.first_id + k * args.size
            seq = queue.put(make_envelope(range(first, first + args.size), args.pad))
            print(seq, first, flush=True)
    else:
        while True:
            lease = queue.lease(args.max_records)
            if lease is None:
                time.sleep(0.01)
            else:
                print(lease.batch_id, flush=True)
    queue.close()


if __name__ == "__main__":
    main()
