"""Child process for the kill -9 tests: does one spill operation and SIGKILLs itself at a step.

python -m tests.spill.crash_child produce ROOT STEP   # SpillingProducer.put of ROOT/readings.arrow
python -m tests.spill.crash_child write ROOT STEP     # SpillStore.write of the same
python -m tests.spill.crash_child replay ROOT STEP SEGMENT_ID

ROOT holds queue.sqlite (already full, for "produce"), spill/ and lake/. Steps: "spilled" (the
producer's segment is durable, not yet counted), "metadata_written" (between the store's two
renames), "written" / "committed" / "archived" (replay_segment).
"""

import os
import signal
import sys
from pathlib import Path

import pyarrow as pa

from pipeline_defs.lake.manifest import LakeManifest
from pipeline_defs.landing.queue import LandingQueue
from pipeline_defs.spill import SpillingProducer, SpillStore, replay_segment

SPILL_BUDGET = 10**9
QUEUE_MAX_RECORDS = 5_000  # the whole file fits alone, not next to one more reading


def main() -> None:
    mode, root, crash_at = sys.argv[1], Path(sys.argv[2]), sys.argv[3]

    def crash(step: str) -> None:
        if step == crash_at:
            os.kill(os.getpid(), signal.SIGKILL)

    with pa.ipc.open_file(root / "readings.arrow") as reader:
        readings = reader.read_all()
    if mode == "produce":
        queue = LandingQueue.open(root / "queue.sqlite", QUEUE_MAX_RECORDS, 10**9)
        spill = SpillStore(root / "spill", SPILL_BUDGET)
        SpillingProducer(queue, spill, spill_after_seconds=0.1, on_step=crash).put(readings)
    elif mode == "write":
        SpillStore(root / "spill", SPILL_BUDGET, on_step=crash).write(readings)
    elif mode == "replay":
        store = SpillStore(root / "spill", SPILL_BUDGET)
        manifest = LakeManifest(root / "lake" / "manifest.sqlite")
        replay_segment(store, sys.argv[4], root / "lake", manifest, on_step=crash)
    print("finished without crashing", flush=True)


if __name__ == "__main__":
    main()
