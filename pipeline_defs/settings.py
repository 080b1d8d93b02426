"""Every Backwater tunable, in one typed object.

Each field has a default and an environment override named ``BACKWATER_<FIELD>`` (upper case),
e.g. ``BACKWATER_QUEUE_MAX_RECORDS=50000``. The README's "Settings" table lists them all.
Paths default to folders of this checkout: runtime state under ``data/``, source data under
``../shared/data``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BACKWATER_", frozen=True)

    # --- where things live -------------------------------------------------------------------
    data_dir: Path = Field(PROJECT_ROOT / "data", description="runtime state: queue, lake, Dagster")
    source_data_dir: Path = Field(
        PROJECT_ROOT.parent / "shared" / "data", description="real input data (read-only)"
    )

    # --- landing queue -----------------------------------------------------------------------
    queue_max_records: int = Field(200_000, gt=0, description="queue bound in readings")
    queue_max_bytes: int = Field(64 * 2**20, gt=0, description="queue bound in payload bytes")
    queue_lease_seconds: float = Field(
        300.0, gt=0, description="a lease not acked by then is redelivered"
    )
    queue_put_poll_seconds: float = Field(
        0.2, gt=0, description="how often a blocked producer retries"
    )

    # --- ingestion ---------------------------------------------------------------------------
    batch_max_records: int = Field(
        100_000, gt=0, description="readings per micro-batch (upper bound)"
    )
    replay_envelope_records: int = Field(
        5_000, gt=0, description="readings per queue entry on replay"
    )
    landing_sensor_interval_seconds: int = Field(5, gt=0)
    max_ingest_runs_in_flight: int = Field(2, gt=0, description="queued + running ingest runs")
    lake_sensor_interval_seconds: int = Field(10, gt=0)
    lake_settle_seconds: float = Field(
        60.0, ge=0, description="max wait for ingestion to go idle before re-materializing windows"
    )

    # --- time and windows ----------------------------------------------------------------------
    partition_start: datetime = Field(
        datetime(2000, 1, 1, tzinfo=UTC),
        description="first monthly partition; earlier readings are quarantined",
    )
    max_future_skew_hours: float = Field(
        24.0, ge=0, description="readings later than now + this are quarantined"
    )
    allowed_lateness_hours: float = Field(
        48.0, ge=0, description="a window is final after end + this"
    )
    sliding_window_hours: tuple[int, ...] = Field(
        (8, 24), description="sliding window lengths, step 1 h"
    )
    completeness_threshold: float = Field(
        0.75, gt=0, le=1, description="share of hours a window needs"
    )

    @property
    def queue_path(self) -> Path:
        return self.data_dir / "landing" / "queue.sqlite"

    @property
    def lake_dir(self) -> Path:
        return self.data_dir / "lake"

    @property
    def manifest_path(self) -> Path:
        return self.lake_dir / "manifest.sqlite"

    @property
    def quarantine_dir(self) -> Path:
        return self.data_dir / "quarantine"

    @property
    def dagster_home(self) -> Path:
        return self.data_dir / "dagster_home"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
