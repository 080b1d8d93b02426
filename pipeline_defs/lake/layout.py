"""Where each stage's files live under the data folder (one function per kind of file)."""

from __future__ import annotations

from pathlib import Path

from pipeline_defs.settings import Settings


def month_label(partition_key: str) -> str:
    """ "2018-03-01" (a monthly partition key) -> "2018-03"."""
    return partition_key[:7]


def watersheds_path(settings: Settings) -> Path:
    return settings.lake_dir / "watersheds" / "huc8.parquet"


def enriched_path(settings: Settings, partition_key: str) -> Path:
    return settings.lake_dir / "enriched" / f"month={month_label(partition_key)}.parquet"


def hourly_path(settings: Settings, partition_key: str) -> Path:
    return settings.lake_dir / "windows" / "hourly" / f"month={month_label(partition_key)}.parquet"


def sliding_path(settings: Settings, partition_key: str) -> Path:
    return settings.lake_dir / "windows" / "sliding" / f"month={month_label(partition_key)}.parquet"


def enrich_quarantine_path(settings: Settings, partition_key: str) -> Path:
    return settings.quarantine_dir / "enrich" / f"month={month_label(partition_key)}.parquet"


def ingress_quarantine_dir(settings: Settings) -> Path:
    return settings.quarantine_dir / "ingress"
