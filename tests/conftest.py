"""Shared fixtures: where the real data is, and a fresh Backwater settings object per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_defs.settings import Settings, get_settings


@pytest.fixture(scope="session")
def source_data() -> Path:
    path = get_settings().source_data_dir
    if not (path / "SOURCES.md").exists():
        pytest.fail(f"real data not found at {path}; set BACKWATER_SOURCE_DATA_DIR")
    return path


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings whose runtime state lives in this test's temporary folder."""
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture(scope="session")
def pittsburgh_month(source_data: Path):
    """Real readings: every Pittsburgh monitor, March 2018 (about 27,000 readings)."""
    from datetime import UTC, datetime, timedelta

    import pyarrow as pa
    import pyarrow.compute as pc

    from pipeline_defs.ingress.sources import iter_source_files, read_source

    start, end = datetime(2018, 3, 1, tzinfo=UTC), datetime(2018, 4, 1, tzinfo=UTC)
    tables = [
        read_source(
            path,
            partition_start=datetime(2000, 1, 1, tzinfo=UTC),
            max_future_skew=timedelta(hours=24),
        ).readings
        for path in iter_source_files([source_data / "air_quality_pittsburgh"])
    ]
    readings = pa.concat_tables(tables)
    in_month = pc.and_(
        pc.greater_equal(readings["event_time"], pa.scalar(start, readings["event_time"].type)),
        pc.less(readings["event_time"], pa.scalar(end, readings["event_time"].type)),
    )
    return readings.filter(in_month)
