"""NWIS site file (USGS RDB format) -> a table of gauge sites with their official HUC8.

Owns the reading of an RDB site-service answer: ``#`` comment lines, one tab-separated header
line, one field-width line (``5s 15s 50s ...``, skipped), then one site per line. Nothing is
inferred from column positions: columns are found by header name.

``SiteTable.sites`` columns (one row per good site, file order):
- ``site_no`` (str, leading zeros kept), ``station_nm`` (str),
- ``latitude``, ``longitude`` (float64, from ``dec_lat_va``/``dec_long_va``, not range-checked
  here: the spatial stage validates coordinates),
- ``crs`` (from ``dec_coord_datum_cd`` via ``DATUM_TO_CRS``), ``huc_cd`` (str, leading zeros kept;
  empty string when absent).

``SiteTable.quarantine`` (``QUARANTINE_SCHEMA``, stage ``ingress``, raw = the whole line): a line
with the wrong number of fields or no site number (``malformed_record``), a repeated site number
(``malformed_record``; the first line wins), an empty or non-numeric coordinate
(``bad_coordinates``), a datum not in ``DATUM_TO_CRS`` (``unknown_crs``). A file that is not an
RDB site file gives no sites and one ``malformed_record`` row.

Invariant: ``len(sites) + quarantine.num_rows == data lines in the file`` (or 1 for an unreadable
file).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline_defs.ingress import _tables
from pipeline_defs.reading import QUARANTINE_SCHEMA, QuarantineReason

SOURCE_PREFIX = "nwis_rdb"

#: ``dec_coord_datum_cd`` -> CRS of the decimal coordinates.
DATUM_TO_CRS: dict[str, str] = {
    "NAD83": "EPSG:4269",
    "NAD27": "EPSG:4267",
    "WGS84": "EPSG:4326",
}

REQUIRED_COLUMNS = ("site_no", "dec_lat_va", "dec_long_va", "dec_coord_datum_cd")
SITE_COLUMNS = ("site_no", "station_nm", "latitude", "longitude", "crs", "huc_cd")

_FIELD_WIDTH = re.compile(r"^\d+[sdn]$")


def _empty_sites() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "site_no": pd.Series(dtype="str"),
            "station_nm": pd.Series(dtype="str"),
            "latitude": pd.Series(dtype="float64"),
            "longitude": pd.Series(dtype="float64"),
            "crs": pd.Series(dtype="str"),
            "huc_cd": pd.Series(dtype="str"),
        }
    )


@dataclass
class SiteTable:
    """Gauge sites read from an NWIS RDB file, and the lines that could not be used."""

    source: str
    sites: pd.DataFrame = field(default_factory=_empty_sites)
    quarantine: pa.Table = field(default_factory=QUARANTINE_SCHEMA.empty_table)


def read_nwis_sites(path: Path) -> SiteTable:
    """The sites in the NWIS RDB site file at ``path`` (see the module docstring)."""
    source = f"{SOURCE_PREFIX}:{path.name}"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return _rejected_file(source, f"cannot read file: {exc}")

    all_lines = pd.Series(text.splitlines(), dtype=object)
    line_numbers = np.arange(1, len(all_lines) + 1)
    is_data = ~all_lines.str.startswith("#").to_numpy(dtype=bool) & (
        all_lines.str.strip().str.len().to_numpy() > 0
    )
    lines = all_lines[is_data].reset_index(drop=True)
    numbers = line_numbers[is_data]
    if len(lines) < 2:
        return _rejected_file(source, f"no header and field-width lines ({len(lines)} lines)")
    header = [name.strip() for name in lines.iloc[0].split("\t")]
    widths = lines.iloc[1].split("\t")
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing or not all(_FIELD_WIDTH.match(w.strip()) for w in widths):
        return _rejected_file(
            source,
            f"not an RDB site file: missing columns {missing} or line {numbers[1]} is not a "
            f"field-width line",
            raw=lines.iloc[0],
        )
    body, body_numbers = lines.iloc[2:].reset_index(drop=True), numbers[2:]
    return _read_body(body, body_numbers, header, source)


def _read_body(
    lines: pd.Series, line_numbers: np.ndarray, header: list[str], source: str
) -> SiteTable:
    field_count = lines.str.count("\t").to_numpy() + 1 if len(lines) else np.zeros(0, int)
    fields = (
        lines.str.split("\t", expand=True, n=len(header) - 1)
        if len(lines)
        else pd.DataFrame(columns=range(len(header)))
    )
    fields = fields.reindex(columns=range(len(header)))
    fields.columns = header
    fields = fields.fillna("").astype("str").apply(lambda column: column.str.strip())

    latitude = pd.to_numeric(fields["dec_lat_va"], errors="coerce").to_numpy(dtype="float64")
    longitude = pd.to_numeric(fields["dec_long_va"], errors="coerce").to_numpy(dtype="float64")
    datum = fields["dec_coord_datum_cd"].str.upper()
    crs = datum.map(DATUM_TO_CRS)
    site_no = fields["site_no"]

    wrong_width = field_count != len(header)
    no_site = (site_no == "").to_numpy()
    repeated = site_no.duplicated(keep="first").to_numpy() & ~no_site
    bad_coords = ~(np.isfinite(latitude) & np.isfinite(longitude))
    unknown_datum = crs.isna().to_numpy()
    conditions = [wrong_width, no_site, repeated, bad_coords, unknown_datum]
    reasons = [
        QuarantineReason.MALFORMED_RECORD,
        QuarantineReason.MALFORMED_RECORD,
        QuarantineReason.MALFORMED_RECORD,
        QuarantineReason.BAD_COORDINATES,
        QuarantineReason.UNKNOWN_CRS,
    ]
    details = [
        "line has " + field_count.astype(str).astype(object) + f" fields, header has {len(header)}",
        "no site_no",
        "site_no repeats an earlier line",
        "coordinates are not numbers: dec_lat_va="
        + fields["dec_lat_va"].to_numpy(dtype=object)
        + ", dec_long_va="
        + fields["dec_long_va"].to_numpy(dtype=object),
        "dec_coord_datum_cd "
        + fields["dec_coord_datum_cd"].to_numpy(dtype=object)
        + f" is not one of {sorted(DATUM_TO_CRS)}",
    ]
    reason = np.select(conditions, [str(r) for r in reasons], default="")
    detail = np.select(conditions, details, default="")
    rejected = reason != ""
    kept = ~rejected

    huc = fields["huc_cd"] if "huc_cd" in fields else pd.Series("", index=fields.index)
    name = fields["station_nm"] if "station_nm" in fields else pd.Series("", index=fields.index)
    sites = pd.DataFrame(
        {
            "site_no": site_no[kept].astype("str"),
            "station_nm": name[kept].astype("str"),
            "latitude": latitude[kept],
            "longitude": longitude[kept],
            "crs": crs[kept].astype("str"),
            "huc_cd": huc[kept].astype("str"),
        }
    ).reset_index(drop=True)
    quarantine = _tables.quarantine(
        int(rejected.sum()),
        reason=reason[rejected],
        detail=detail[rejected],
        source=source,
        location=["line " + str(n) for n in line_numbers[rejected]],
        sensor_id=np.where(site_no[rejected] != "", "USGS-" + site_no[rejected], None),
        raw=lines[rejected].to_numpy(dtype=object),
    )
    return SiteTable(source=source, sites=sites, quarantine=quarantine)


def _rejected_file(source: str, detail: str, raw: str | None = None) -> SiteTable:
    result = _tables.file_rejected(source, QuarantineReason.MALFORMED_RECORD, detail, raw=raw)
    return SiteTable(source=source, quarantine=result.quarantine)
