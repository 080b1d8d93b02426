"""A ``BackwaterResource`` over a temporary data folder, with settings given as env overrides."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipeline_defs.defs.resources import BackwaterResource
from pipeline_defs.settings import get_settings


@pytest.fixture
def backwater_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., BackwaterResource]]:
    """``backwater_with(batch_max_records=5000)``: a resource whose settings are the defaults plus
    these ``BACKWATER_*`` overrides, with its data folder under ``tmp_path``."""

    def make(**overrides: object) -> BackwaterResource:
        monkeypatch.setenv("BACKWATER_DATA_DIR", str(tmp_path / "data"))
        for name, value in overrides.items():
            monkeypatch.setenv(f"BACKWATER_{name.upper()}", str(value))
        get_settings.cache_clear()
        return BackwaterResource()

    yield make
    get_settings.cache_clear()
