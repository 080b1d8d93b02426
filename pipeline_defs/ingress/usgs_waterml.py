"""USGS WaterML-JSON (NWIS ``iv``/``dv`` service responses) -> canonical readings.

Owns the meaning of a WaterML-JSON file: one ``timeSeries`` per (site, parameter, statistic), each
with one or more ``values`` blocks (one per method), each value a ``{value, qualifiers, dateTime}``.

What a reading gets:
- ``sensor_id`` = ``"USGS-<site_no>"``; the site number is kept as the string the file holds
  (leading zeros included).
- ``parameter`` = a readable name for known parameter codes (``USGS_PARAMETER_NAMES``), else
  ``"usgs_<code>"``. A series whose statistic is not ``00000`` (instantaneous; ``dv`` responses
  carry daily means, maxima, "observation at 24:00", ...) gets a suffix (``STATISTIC_SUFFIXES``,
  else ``"_stat<code>"``), so a daily statistic never shares a reading key with the
  instantaneous values of the same parameter.
- ``unit`` = the series' ``unit.unitCode`` as written (``"ft3/s"``, ``"ft"``, ``"deg C"``).
- ``event_time`` = the timestamp's own UTC offset applied (``-04:00`` and ``-05:00`` both occur
  in one series across a DST change). A timestamp without an offset (the ``dv`` service writes
  local dates) is placed in the site's time zone from ``sourceInfo.timeZoneInfo``: the US zone its
  abbreviations name when the site observes DST, else its fixed default offset; when that is not
  possible (no zone info, an unknown DST zone, an ambiguous or skipped local time) the value is
  quarantined ``bad_timestamp``.
- longitude/latitude from ``geoLocation.geogLocation``; ``crs`` from its ``srs`` (``SRS_TO_CRS``;
  any other ``EPSG:<n>`` passes through for the spatial stage to check; anything else quarantines
  the series' values as ``unknown_crs``). Every file we hold says ``EPSG:4326``. A series without a
  location keeps null coordinates (the spatial stage rejects them) and the service default CRS.
- ``quality`` = the value's qualifiers joined with ``"|"`` (``"P|Ice"``), null when it has none.
- ``source`` = ``"usgs_iv:<file name>"``.

Rejects (stage ``ingress``): a value equal to the series' ``noDataValue`` (``no_data_value``), a
value that is not a number (``unparseable_value``) or not finite (``non_finite_value``), a
timestamp that cannot be placed in UTC (``bad_timestamp``), a series whose metadata cannot be
read (``malformed_record``, one row per value), and a file that is not WaterML JSON at all (one
``malformed_record`` row for the file). An empty response (no ``timeSeries``) is zero readings.

Invariant: ``values_read`` == the number of entries in all ``values[*].value`` lists, except for an
unreadable file (1) or a series with no countable values (1).

Caveat: the reading key is (sensor, parameter, event time), so two *methods* of one series that
both report the same instant collapse into one reading downstream. No file we hold has that (the
second method block of each series is either the only one with data or empty).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline_defs.ingress import _tables
from pipeline_defs.reading import (
    QUARANTINE_SCHEMA,
    READING_SCHEMA,
    QuarantineReason,
    ReadResult,
)

SOURCE_PREFIX = "usgs_iv"

#: USGS parameter codes we name; any other code becomes ``"usgs_<code>"``.
USGS_PARAMETER_NAMES: dict[str, str] = {
    "00010": "water_temperature",
    "00045": "precipitation",
    "00060": "discharge",
    "00062": "reservoir_elevation",
    "00065": "gage_height",
    "00095": "specific_conductance",
    "00300": "dissolved_oxygen",
    "00400": "ph",
    "62614": "lake_elevation_ngvd29",
    "62615": "lake_elevation_navd88",
    "63680": "turbidity",
}

#: Parameter-name suffix per NWIS statistic code; ``00000`` is an instantaneous value.
STATISTIC_SUFFIXES: dict[str, str] = {
    "00000": "",
    "00001": "_max",
    "00002": "_min",
    "00003": "_mean",
    "00006": "_sum",
    "00008": "_median",
    "32400": "_at_2400",
}

#: ``geogLocation.srs`` spellings -> the CRS a reading carries.
SRS_TO_CRS: dict[str, str] = {
    "EPSG:4326": "EPSG:4326",
    "WGS84": "EPSG:4326",
    "EPSG:4269": "EPSG:4269",
    "NAD83": "EPSG:4269",
    "EPSG:4267": "EPSG:4267",
    "NAD27": "EPSG:4267",
}

#: The CRS of a series that gives no ``srs`` (the NWIS services report EPSG:4326).
DEFAULT_CRS = "EPSG:4326"

#: (standard, daylight) zone abbreviations in ``timeZoneInfo`` -> the IANA zone observing both.
US_DST_ZONES: dict[tuple[str, str], str] = {
    ("EST", "EDT"): "America/New_York",
    ("CST", "CDT"): "America/Chicago",
    ("MST", "MDT"): "America/Denver",
    ("PST", "PDT"): "America/Los_Angeles",
    ("AKST", "AKDT"): "America/Anchorage",
}

_HAS_OFFSET = r"(?:Z|[+-]\d\d:?\d\d)$"


def read_waterml_json(path: Path) -> ReadResult:
    """Every value in the WaterML-JSON file at ``path``, as readings or quarantine rows."""
    source = f"{SOURCE_PREFIX}:{path.name}"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return _tables.file_rejected(
            source,
            QuarantineReason.MALFORMED_RECORD,
            f"cannot read file: {exc}",
            location=str(path),
        )
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        return _tables.file_rejected(
            source,
            QuarantineReason.MALFORMED_RECORD,
            f"not valid JSON ({len(text):,} characters): {exc}",
            raw=_tables.snippet_around(text, exc.pos),
            location=f"line {exc.lineno} column {exc.colno}",
        )
    series_list = _time_series(document)
    if series_list is None:
        keys = sorted(document)[:10] if isinstance(document, dict) else type(document).__name__
        return _tables.file_rejected(
            source,
            QuarantineReason.MALFORMED_RECORD,
            f"not a WaterML-JSON response: no value.timeSeries list (top level: {keys})",
            raw=text[: _tables.RAW_SNIPPET_CHARS],
        )

    reading_tables: list[pa.Table] = []
    quarantine_tables: list[pa.Table] = []
    for index, series in enumerate(series_list):
        readings, rejects = _read_series(series, index, source)
        reading_tables.extend(readings)
        quarantine_tables.extend(rejects)
    return ReadResult(
        source=source,
        readings=_tables.concat(reading_tables, READING_SCHEMA),
        quarantine=_tables.concat(quarantine_tables, QUARANTINE_SCHEMA),
    )


def parameter_name(code: str, statistic: str = "00000") -> str:
    """The canonical parameter for a USGS parameter code and statistic code."""
    base = USGS_PARAMETER_NAMES.get(code, f"usgs_{code}")
    return base + STATISTIC_SUFFIXES.get(statistic, f"_stat{statistic}")


def _time_series(document: Any) -> list[Any] | None:
    if not isinstance(document, dict):
        return None
    value = document.get("value")
    series = value.get("timeSeries") if isinstance(value, dict) else None
    return series if isinstance(series, list) else None


@dataclass(frozen=True)
class _Series:
    """What every value of one ``timeSeries`` shares."""

    name: str
    sensor_id: str
    parameter: str
    unit: str
    longitude: float | None
    latitude: float | None
    crs: str
    crs_problem: str | None
    no_data_value: float | None
    time_zone_info: Any  # as given; _site_zone judges its shape


def _series_meta(series: dict[str, Any], index: int) -> _Series:
    """Raises KeyError/TypeError/IndexError/ValueError when the metadata cannot be read."""
    source_info = series["sourceInfo"]
    variable = series["variable"]
    site_no = str(source_info["siteCode"][0]["value"]).strip()
    code = str(variable["variableCode"][0]["value"]).strip()
    if not site_no or not code:
        raise ValueError(f"empty site number {site_no!r} or parameter code {code!r}")
    name = str(series.get("name") or f"timeSeries[{index}]")
    statistic = _statistic_code(name, variable)
    unit = (variable.get("unit") or {}).get("unitCode") or "unknown"

    geog = (source_info.get("geoLocation") or {}).get("geogLocation") or {}
    srs = geog.get("srs")
    crs, crs_problem = _crs_for(srs)
    no_data = variable.get("noDataValue")
    tz_info = source_info.get("timeZoneInfo")
    return _Series(
        name=name,
        sensor_id=f"USGS-{site_no}",
        parameter=parameter_name(code, statistic),
        unit=str(unit),
        longitude=_float_or_none(geog.get("longitude")),
        latitude=_float_or_none(geog.get("latitude")),
        crs=crs,
        crs_problem=crs_problem,
        no_data_value=None if no_data is None else float(no_data),
        time_zone_info=tz_info,
    )


def _statistic_code(name: str, variable: dict[str, Any]) -> str:
    parts = name.split(":")
    if len(parts) == 4 and parts[3].isdigit():
        return parts[3]
    for option in (variable.get("options") or {}).get("option") or []:
        if (
            isinstance(option, dict)
            and option.get("name") == "Statistic"
            and option.get("optionCode")
        ):
            return str(option["optionCode"])
    return "00000"


def _crs_for(srs: Any) -> tuple[str, str | None]:
    if srs is None or srs == "":
        return DEFAULT_CRS, None
    text = str(srs).strip()
    if text.upper() in SRS_TO_CRS:
        return SRS_TO_CRS[text.upper()], None
    prefix, _, number = text.partition(":")
    if prefix.upper() == "EPSG" and number.isdigit():
        return f"EPSG:{number}", None
    return (
        DEFAULT_CRS,
        f"geogLocation srs {text!r} is not a known CRS (known: {sorted(SRS_TO_CRS)})",
    )


def _float_or_none(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _read_series(series: Any, index: int, source: str) -> tuple[list[pa.Table], list[pa.Table]]:
    blocks = series.get("values") if isinstance(series, dict) else None
    try:
        meta = _series_meta(series, index)
    except (KeyError, TypeError, IndexError, ValueError, AttributeError) as exc:
        return [], [_malformed_series(blocks, index, source, f"{type(exc).__name__}: {exc}")]
    if not isinstance(blocks, list):
        return [], [
            _malformed_series(None, index, source, f"values is {type(blocks).__name__}, not a list")
        ]
    readings: list[pa.Table] = []
    rejects: list[pa.Table] = []
    for block_index, block in enumerate(blocks):
        entries = block.get("value") if isinstance(block, dict) else None
        location = f"{meta.name} values[{block_index}]"
        if not isinstance(entries, list):
            rejects.append(
                _tables.quarantine(
                    1,
                    reason=str(QuarantineReason.MALFORMED_RECORD),
                    detail=f"values[{block_index}].value is {type(entries).__name__}, not a list",
                    source=source,
                    location=location,
                    sensor_id=meta.sensor_id,
                    parameter=meta.parameter,
                    raw=json.dumps(block, default=str)[: _tables.RAW_SNIPPET_CHARS],
                )
            )
            continue
        if not entries:
            continue
        try:
            good, bad = _read_block(entries, meta, source, location)
        except Exception as exc:  # a shape no rule foresaw: quarantine the block, keep the file
            why = f"{type(exc).__name__}: {exc}"
            bad = _malformed_series(
                [block], index, source, why, f"values[{block_index}] unreadable"
            )
            good = None
        if good is not None:
            readings.append(good)
        rejects.append(bad)
    return readings, rejects


def _malformed_series(
    blocks: Any, index: int, source: str, why: str, what: str = "metadata unreadable"
) -> pa.Table:
    """One quarantine row per value of a series we cannot interpret (one row if uncountable)."""
    entries: list[Any] = []
    if isinstance(blocks, list):
        for block in blocks:
            if isinstance(block, dict) and isinstance(block.get("value"), list):
                entries.extend(block["value"])
    detail = f"timeSeries[{index}] {what} ({why})"
    if not entries:
        return _tables.quarantine(
            1,
            reason=str(QuarantineReason.MALFORMED_RECORD),
            detail=detail,
            source=source,
            location=f"timeSeries[{index}]",
        )
    raw = [json.dumps(entry, default=str)[: _tables.RAW_SNIPPET_CHARS] for entry in entries]
    return _tables.quarantine(
        len(entries),
        reason=str(QuarantineReason.MALFORMED_RECORD),
        detail=detail,
        source=source,
        location=f"timeSeries[{index}]",
        raw=raw,
    )


def _read_block(
    entries: list[Any], meta: _Series, source: str, location: str
) -> tuple[pa.Table, pa.Table]:
    """Split one ``values`` block into readings and quarantine rows, column-wise."""
    is_record = np.fromiter((isinstance(e, dict) for e in entries), dtype=bool, count=len(entries))
    frame = pd.DataFrame.from_records(
        [e if ok else {} for e, ok in zip(entries, is_record, strict=True)],
        columns=["value", "qualifiers", "dateTime"],
    )
    frame["value"] = frame["value"].astype(object)
    numbers = _tables.parse_numbers(frame["value"])
    times, time_problem = _utc_times(frame["dateTime"].astype(object), meta.time_zone_info)
    no_data = (
        numbers.values == meta.no_data_value
        if meta.no_data_value is not None
        else np.zeros(len(frame), dtype=bool)
    )
    bad_time = times.isna().to_numpy(dtype=bool)

    conditions = [
        ~is_record,
        np.full(len(frame), meta.crs_problem is not None),
        numbers.unparseable,
        numbers.non_finite,
        no_data,
        bad_time,
    ]
    reasons = [
        QuarantineReason.MALFORMED_RECORD,
        QuarantineReason.UNKNOWN_CRS,
        QuarantineReason.UNPARSEABLE_VALUE,
        QuarantineReason.NON_FINITE_VALUE,
        QuarantineReason.NO_DATA_VALUE,
        QuarantineReason.BAD_TIMESTAMP,
    ]
    details = [
        "value entry is not an object",
        meta.crs_problem or "",
        "value is not a number",
        "value is not a finite number",
        f"value equals the series noDataValue {meta.no_data_value}",
        time_problem.to_numpy(dtype=object),
    ]
    reason = np.select(conditions, [str(r) for r in reasons], default="")
    detail = np.select(conditions, details, default="")
    rejected = reason != ""
    kept = ~rejected

    quality = frame["qualifiers"].where(
        frame["qualifiers"].map(lambda q: isinstance(q, list)), None
    )
    quality = quality.str.join("|").replace("", None)

    good = _tables.readings(
        int(kept.sum()),
        sensor_id=meta.sensor_id,
        parameter=meta.parameter,
        value=numbers.values[kept],
        unit=meta.unit,
        event_time=times[kept],
        longitude=meta.longitude,
        latitude=meta.latitude,
        crs=meta.crs,
        quality=quality[kept].astype(object),
        source=source,
    )
    qualified = quality.notna().to_numpy()
    detail = np.where(
        qualified,
        detail + " (qualifiers " + quality.fillna("").to_numpy(dtype=object) + ")",
        detail,
    )
    positions = np.flatnonzero(rejected)
    raw_text = frame["value"].astype("str").astype(object)
    for position in np.flatnonzero(~is_record):  # only entries that are not objects
        raw_text.iloc[position] = str(entries[position])[: _tables.RAW_SNIPPET_CHARS]
    bad = _tables.quarantine(
        len(positions),
        reason=reason[rejected],
        detail=detail[rejected],
        source=source,
        location=[f"{location}[{p}]" for p in positions],
        sensor_id=meta.sensor_id,
        parameter=meta.parameter,
        event_time=times[rejected],
        raw=raw_text[rejected],
    )
    return good, bad


def _utc_times(text: pd.Series, time_zone_info: Any) -> tuple[pd.Series, pd.Series]:
    """UTC instants for ISO 8601 texts (NaT where impossible) and, per text, why it failed."""
    as_text = text.astype("str")
    has_offset = as_text.str.strip().str.contains(_HAS_OFFSET, regex=True, na=False).to_numpy()
    times = pd.Series(pd.NaT, index=text.index, dtype="datetime64[us, UTC]")
    problem = pd.Series("dateTime is not an ISO 8601 time", index=text.index, dtype=object)

    if has_offset.any():
        aware = pd.to_datetime(as_text[has_offset], utc=True, format="ISO8601", errors="coerce")
        times[has_offset] = aware.astype("datetime64[us, UTC]")
    naive = ~has_offset & as_text.notna().to_numpy()
    if naive.any():
        zone, why_not = _site_zone(time_zone_info)
        if zone is None:
            problem[naive] = f"dateTime has no UTC offset and {why_not}"
        else:
            local = pd.to_datetime(as_text[naive], format="ISO8601", errors="coerce")
            placed = local.dt.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
            times[naive] = placed.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
            unplaced = (
                naive & times.isna().to_numpy() & local.reindex(text.index).notna().to_numpy()
            )
            problem[unplaced] = f"local dateTime is ambiguous or skipped in time zone {zone}"
    problem[times.notna()] = None
    return times, problem


def _site_zone(time_zone_info: Any) -> tuple[Any, str]:
    """The zone that places a site's offset-less local times, or None and why not."""
    if not time_zone_info:
        return None, "the series has no timeZoneInfo"
    if not isinstance(time_zone_info, dict):
        return None, f"its timeZoneInfo is a {type(time_zone_info).__name__}, not an object"
    default = time_zone_info.get("defaultTimeZone") or {}
    daylight = time_zone_info.get("daylightSavingsTimeZone") or {}
    for name, zone in (("defaultTimeZone", default), ("daylightSavingsTimeZone", daylight)):
        if not isinstance(zone, dict):
            return None, f"its timeZoneInfo.{name} is {zone!r}, not an object"
    if time_zone_info.get("siteUsesDaylightSavingsTime"):
        pair = (default.get("zoneAbbreviation"), daylight.get("zoneAbbreviation"))
        if all(isinstance(abbreviation, str) for abbreviation in pair) and pair in US_DST_ZONES:
            return US_DST_ZONES[pair], ""
        return None, f"the site observes DST in an unknown zone {pair}"
    offset = _parse_offset(default.get("zoneOffset"))
    if offset is None:
        return None, f"its default zone offset {default.get('zoneOffset')!r} is unreadable"
    return offset, ""


def _parse_offset(text: Any) -> timezone | None:
    if not isinstance(text, str) or len(text) != 6 or text[0] not in "+-" or text[3] != ":":
        return None
    try:
        hours, minutes = int(text[1:3]), int(text[4:6])
    except ValueError:
        return None
    sign = -1 if text[0] == "-" else 1
    return timezone(sign * timedelta(hours=hours, minutes=minutes))
