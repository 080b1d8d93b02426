"""The one resource every Backwater asset and sensor uses: a handle on the settings and stores.

Settings come from the environment (``BACKWATER_*``, see the README), so the daemon, the webserver
and every run process agree without extra configuration.
"""

from pathlib import Path

import dagster as dg

from pipeline_defs.lake.manifest import LakeManifest
from pipeline_defs.landing.queue import LandingQueue
from pipeline_defs.settings import Settings, get_settings
from pipeline_defs.spill.segments import SpillStore


class BackwaterResource(dg.ConfigurableResource):
    """Opens the landing queue and the lake manifest named by the settings."""

    data_dir: str | None = None  # override BACKWATER_DATA_DIR (tests)

    @property
    def settings(self) -> Settings:
        base = get_settings()
        return (
            base
            if self.data_dir is None
            else base.model_copy(update={"data_dir": Path(self.data_dir)})
        )

    def queue(self) -> LandingQueue:
        return LandingQueue.from_settings(self.settings)

    def manifest(self) -> LakeManifest:
        return LakeManifest(self.settings.manifest_path)

    def spill(self) -> SpillStore:
        return SpillStore(self.settings.spill_dir, self.settings.spill_disk_budget_bytes)


@dg.definitions
def resources() -> dg.Definitions:
    # In-process: a crashed run worker takes all its steps with it (no orphan step finishing
    # after the daemon declared the run failed), and 2 cores gain nothing from step processes.
    return dg.Definitions(
        resources={"backwater": BackwaterResource()}, executor=dg.in_process_executor
    )
