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
