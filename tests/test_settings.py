"""Settings: paths are made absolute, nonsense is refused with the figures."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from pipeline_defs.settings import Settings


def test_relative_data_dir_becomes_absolute(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BACKWATER_DATA_DIR", "./mydata")
    assert Settings().data_dir == tmp_path / "mydata"


@pytest.mark.parametrize(
    ("name", "value"), [("BACKWATER_DATA_DIR", ""), ("BACKWATER_SLIDING_WINDOW_HOURS", "[0, -3]")]
)
def test_invalid_values_are_refused(monkeypatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()
