"""Independent counts of the real source files (stdlib csv/json, not the readers) and feeds."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from pipeline_defs.ingress.esdr_csv import EsdrFeed, load_esdr_feeds


@pytest.fixture(scope="session")
def esdr_dir(source_data: Path) -> Path:
    return source_data / "air_quality_pittsburgh"


@pytest.fixture(scope="session")
def esdr_csv_files(esdr_dir: Path) -> list[Path]:
    files = sorted((esdr_dir / "esdr_raw").glob("*.csv"))
    assert len(files) == 16
    return files


@pytest.fixture(scope="session")
def esdr_feeds(esdr_dir: Path) -> dict[int, EsdrFeed]:
    return load_esdr_feeds(esdr_dir / "esdr_metadata.json")


@pytest.fixture(scope="session")
def esdr_nonempty_cells(esdr_csv_files: list[Path]) -> dict[str, int]:
    """Per file: non-empty cells outside the EpochTime column, counted with the csv module."""
    counts = {}
    for path in esdr_csv_files:
        with path.open(newline="") as handle:
            rows = csv.reader(handle)
            next(rows)
            counts[path.name] = sum(1 for row in rows for cell in row[1:] if cell != "")
    return counts


@pytest.fixture(scope="session")
def usgs_files(source_data: Path) -> list[Path]:
    files = sorted((source_data / "usgs_iv").glob("*.json"))
    assert len(files) == 8
    return [*files, source_data / "usgs_sites" / "waterservices_iv.txt"]


@pytest.fixture(scope="session")
def waterml_value_entries(usgs_files: list[Path]) -> dict[str, int]:
    """Per file: entries in all ``values[*].value`` lists, counted with the json module."""
    counts = {}
    for path in usgs_files:
        document = json.loads(path.read_text())
        counts[path.name] = sum(
            len(block["value"])
            for series in document["value"]["timeSeries"]
            for block in series["values"]
        )
    return counts
