"""NWIS RDB site file: the 206 real sites, and a damaged file written to tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_defs.ingress.nwis_rdb import read_nwis_sites
from pipeline_defs.reading import QUARANTINE_SCHEMA


@pytest.fixture(scope="module")
def site_file(source_data: Path) -> Path:
    return source_data / "usgs_sites" / "nwis_sites.txt"


def _data_lines(path: Path) -> list[list[str]]:
    """Independent parse: non-comment lines after the header and field-width lines."""
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    return [line.split("\t") for line in lines[2:]]


def test_all_206_sites_with_string_codes(site_file: Path) -> None:
    table = read_nwis_sites(site_file)
    sites = table.sites
    expected = _data_lines(site_file)

    assert len(expected) == 206
    assert len(sites) == 206
    assert table.quarantine.num_rows == 0
    assert list(sites.columns) == [
        "site_no",
        "station_nm",
        "latitude",
        "longitude",
        "crs",
        "huc_cd",
    ]
    assert sites["site_no"].tolist() == [fields[1] for fields in expected]
    assert sites["huc_cd"].tolist() == [fields[11] for fields in expected]
    assert sites["site_no"].iloc[0] == "03161500"
    assert sites["huc_cd"].iloc[0] == "05050001"
    assert sites["site_no"].str.startswith("0").sum() == 206
    assert (sites["huc_cd"].str.len() == 8).all()
    assert set(sites["crs"]) == {"EPSG:4269"}
    assert sites["latitude"].dtype == "float64" and sites["longitude"].dtype == "float64"
    first = sites.iloc[0]
    assert (first["latitude"], first["longitude"]) == (36.53484707, -81.3428766)
    assert first["station_nm"] == "SOUTH FORK NEW RIVER NR CRUMPLER, NC"


RDB = (
    "# comment\n"
    "agency_cd\tsite_no\tstation_nm\tdec_lat_va\tdec_long_va\tdec_coord_datum_cd\thuc_cd\n"
    "5s\t15s\t50s\t16s\t16s\t10s\t16s\n"
    "USGS\t03161500\tGOOD # ONE\t36.53\t-81.34\tNAD83\t05050001\n"
    "USGS\t03163000\tOLD DATUM\t36.60\t-81.04\tNAD27\t05050001\n"
    "USGS\t03175100\tNO LATITUDE\t\t-81.41\tNAD83\t05050002\n"
    "USGS\t03175140\tTEXT LATITUDE\tabc\t-81.41\tNAD83\t05050002\n"
    "USGS\t03177700\tODD DATUM\t37.1\t-81.2\tOLDHAT\t05050002\n"
    "USGS\t03161500\tREPEATED\t36.53\t-81.34\tNAD83\t05050001\n"
    "USGS\t03180000\tSHORT LINE\n"
    "# trailing comment\n"
)


def test_bad_lines_go_to_quarantine(tmp_path: Path) -> None:
    path = tmp_path / "sites.txt"
    path.write_text(RDB)

    table = read_nwis_sites(path)
    rejects = table.quarantine.to_pandas()

    assert table.sites["site_no"].tolist() == ["03161500", "03163000"]
    assert table.sites["crs"].tolist() == ["EPSG:4269", "EPSG:4267"]
    assert table.sites["station_nm"].tolist() == ["GOOD # ONE", "OLD DATUM"]
    assert table.quarantine.schema.equals(QUARANTINE_SCHEMA)
    assert rejects[["location", "reason"]].values.tolist() == [
        ["line 6", "bad_coordinates"],
        ["line 7", "bad_coordinates"],
        ["line 8", "unknown_crs"],
        ["line 9", "malformed_record"],
        ["line 10", "malformed_record"],
    ]
    assert rejects["sensor_id"].tolist()[:3] == ["USGS-03175100", "USGS-03175140", "USGS-03177700"]
    assert "OLDHAT" in rejects["detail"].iloc[2]
    assert rejects["raw"].iloc[1] == "USGS\t03175140\tTEXT LATITUDE\tabc\t-81.41\tNAD83\t05050002"
    assert "3 fields, header has 7" in rejects["detail"].iloc[4]
    assert len(table.sites) + len(rejects) == 7


@pytest.mark.parametrize("content", ["", "# only comments\n", "a\tb\nnot widths\n1\t2\n"])
def test_a_file_that_is_not_an_rdb_site_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "sites.txt"
    path.write_text(content)

    table = read_nwis_sites(path)

    assert table.sites.empty
    assert table.quarantine.column("reason").to_pylist() == ["malformed_record"]
