"""Fixtures of the spatial stage: the real watershed polygons, their index, and NWIS gauges read
independently of any project reader."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipeline_defs.spatial.join import WatershedIndex
from pipeline_defs.spatial.watersheds import Watersheds, load_watersheds


@pytest.fixture(scope="session")
def appalachian(source_data: Path) -> Watersheds:
    folder = source_data / "watersheds_appalachian"
    return load_watersheds(folder / "WBD_HUC8_PMAS_sa_Geo.json", folder / "PMAS_HUC8_names.csv")


@pytest.fixture
def appalachian_index(appalachian: Watersheds) -> WatershedIndex:
    return WatershedIndex(appalachian)


@pytest.fixture(scope="session")
def navarro_huc12(source_data: Path) -> Watersheds:
    return load_watersheds(
        source_data / "watersheds_navarro" / "WBDHU12_Navarro+Adjacent.shp",
        code_column="HUC12",
        code_length=12,
    )


@pytest.fixture(scope="session")
def nwis_sites(source_data: Path) -> pd.DataFrame:
    """NWIS RDB read with plain pandas: a header line, a field-width line, then the data."""
    frame = pd.read_csv(
        source_data / "usgs_sites" / "nwis_sites.txt", sep="\t", comment="#", dtype=str
    )
    width_line = frame.iloc[0]
    assert width_line["site_no"] == "15s" and width_line["huc_cd"] == "16s", width_line.to_dict()
    sites = frame.iloc[1:].reset_index(drop=True)
    sites["lon"] = sites["dec_long_va"].astype(float)
    sites["lat"] = sites["dec_lat_va"].astype(float)
    return sites
