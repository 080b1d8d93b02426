"""Child process for the kill -9 tests: ingests one leased batch and SIGKILLs itself at a step.

python -m tests.lake.crash_child QUEUE_PATH LAKE_DIR BATCH_ID STEP
"""

import os
import signal
import sys
from pathlib import Path

from pipeline_defs.lake.ingest import ingest_batch
from pipeline_defs.lake.manifest import LakeManifest
from pipeline_defs.landing.queue import LandingQueue


def main() -> None:
    queue_path, lake_dir, batch_id, crash_at = sys.argv[1:5]
    queue = LandingQueue.open(
        Path(queue_path), max_records=10**9, max_bytes=10**12, lease_seconds=1
    )
    manifest = LakeManifest(Path(lake_dir) / "manifest.sqlite")

    def crash(step: str) -> None:
        if step == crash_at:
            os.kill(os.getpid(), signal.SIGKILL)

    ingest_batch(queue, Path(lake_dir), manifest, batch_id, on_step=crash)
    print("finished without crashing", flush=True)


if __name__ == "__main__":
    main()
