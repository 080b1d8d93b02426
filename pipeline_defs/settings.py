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

from pydantic import Field, field_validator
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
    # The daemon evaluates sensors at most every 5 s, so a shorter interval ticks every 5 s.
    landing_sensor_interval_seconds: int = Field(5, gt=0)
    max_ingest_runs_in_flight: int = Field(2, gt=0, description="queued + running ingest runs")
    ingest_max_records_per_second: float = Field(
        0.0, ge=0, description="pace each ingest run's lake write to this rate; 0 = unpaced"
    )
    lake_sensor_interval_seconds: int = Field(10, gt=0)
    lake_settle_seconds: float = Field(
        60.0, ge=0, description="max wait for ingestion to go idle before re-materializing windows"
    )

    # --- backpressure: memory guard, adaptive drain, spillover ------------------------------
    producer_rss_high_mb: float = Field(
        1536, gt=0, description="producer pauses intake above this RSS"
    )
    producer_rss_low_mb: float = Field(1024, gt=0, description="...and resumes below this RSS")
    runs_rss_high_mb: float = Field(
        3072,
        gt=0,
        description="landing sensor holds back above this total RSS of in-flight run workers",
    )
    runs_rss_low_mb: float = Field(2048, gt=0, description="...and resumes below this")
    system_memory_high_percent: float = Field(90.0, gt=0, le=100)
    system_memory_low_percent: float = Field(80.0, gt=0, le=100)
    batch_min_records: int = Field(5_000, gt=0, description="smallest micro-batch the drain plans")
    drain_target_seconds: float = Field(60.0, gt=0, description="aim to drain the backlog within")
    ingest_memory_budget_mb: float = Field(
        1024, gt=0, description="in-flight batches may hold this"
    )
    bytes_per_record_estimate: int = Field(400, gt=0, description="memory per reading in a run")
    spill_after_seconds: float = Field(
        2.0, ge=0, description="a producer spills after waiting this"
    )
    spill_disk_budget_bytes: int = Field(2 * 2**30, gt=0, description="pending spill bytes bound")
    spill_sensor_interval_seconds: int = Field(10, gt=0)
    replay_partitions_per_run: int = Field(5, gt=0, description="spill segments per replay run")
    auto_replay: bool = Field(False, description="replay spilled segments once pressure is low")
    auto_replay_quiet_seconds: float = Field(60.0, ge=0, description="...for at least this long")

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

    @field_validator("data_dir", "source_data_dir", mode="before")
    @classmethod
    def _absolute_path(cls, value: object) -> Path:
        if not str(value).strip():
            raise ValueError("must be a folder path, got an empty value")
        return Path(str(value)).expanduser().resolve()

    @field_validator("sliding_window_hours")
    @classmethod
    def _positive_windows(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or any(hours < 1 for hours in value):
            raise ValueError(
                f"sliding windows are whole hours ≥ 1, e.g. [8, 24]; got {list(value)}"
            )
        return value

    @property
    def queue_path(self) -> Path:
        return self.data_dir / "landing" / "queue.sqlite"

    @property
    def lake_dir(self) -> Path:
        return self.data_dir / "lake"

    @property
    def spill_dir(self) -> Path:
        return self.data_dir / "spill"

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
