"""ESDR air-quality CSV exports (Pittsburgh monitors) -> canonical readings.

Owns the meaning of an ESDR export: ``EpochTime`` (UTC seconds) plus one column per feed and
channel, named ``3.feed_<id>.<CHANNEL>``; a column that merges feeds or channels joins the names
with ``..`` (``3.feed_11067.CO_PPB..3.feed_43.CO_PPB``). The exporting script filled a merged column
from the first source, and let each later source override it where it had data, so a value comes
from exactly one of the named sources but the file does not say which.

What a reading gets:
- ``sensor_id`` = ``"ESDR-<feed>"``; for a merged column the distinct feeds in column order joined
  with ``"+"`` (``"ESDR-11067+43"``), located at the first feed, with ``quality = "merged_feeds"``
  (also when one feed's channels are merged). Plain columns have a null ``quality``.
- ``parameter``/``unit``: canonical, so monitors compare (``canonical_channel``): particulates in
  ug/m3 (``pm25``, ``pm10``), gases in ppb (``*_PPM`` x 1000; ``OZONE_PPM`` -> ``o3``), wind in
  mph / degrees. AirNow ``OZONE`` is already ppb: feed 3506 equals ACHD feed 26 ``OZONE_PPM`` x
  1000 in 99.99 % of the 44,871 hours both Lawrenceville monitors report. A channel we do not
  know is kept, with ``parameter`` = the lower-cased channel name and ``unit = "unknown"``.
- Merged ``CO_PPM..CO_PPB`` (feed 23): the whole column is ppm. The exporting script multiplied
  the CO_PPB channel by 0.001 before merging, and the values agree: 34,316 values from 2016 to
  2020, median 0.20, max 2.2, none above 20 (ppb figures would be in the hundreds, as feed 43's
  CO_PPB are). So a merged column takes its first channel's unit: this one is x 1000 to ppb.
- Values scaled to another unit are rounded to 6 decimals (removes float noise such as
  ``0.1999 * 1000 = 199.89999999999998``; the sources carry at most 4 decimals of ppm).
- ``crs`` and location from the feed metadata (``esdr_metadata.json``, WGS 84 -> ``EPSG:4326``).
- ``source`` = ``"esdr_csv:<file name>"``.

Counting: an empty cell is "no value" (neither read nor quarantined); every non-empty cell is one
value read. Rejects (stage ``ingress``): a non-numeric cell (``unparseable_value``, raw text kept),
``nan``/``inf`` (``non_finite_value``), a cell whose ``EpochTime`` is not epoch seconds
(``bad_timestamp``), a column whose feed is not in the metadata or whose name is not
``3.feed_<id>.<CHANNEL>`` (``unknown_sensor``), a merged column whose channels mean different
parameters (``malformed_record``), a line with the wrong number of fields (one
``malformed_record`` row, raw line kept), an unreadable file (one ``malformed_record`` row).

Order: values come out column by column, rows in file order. Rows out of time order and gaps are
kept as they are: nothing is sorted or de-duplicated here.

Vectorised: one pyarrow CSV parse, then per column Arrow/numpy masks (columns are few; rows many).
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from pipeline_defs.ingress import _tables
from pipeline_defs.reading import (
    QUARANTINE_SCHEMA,
    READING_SCHEMA,
    QuarantineReason,
    ReadResult,
)

SOURCE_PREFIX = "esdr_csv"
TIME_COLUMN = "EpochTime"
MERGED_QUALITY = "merged_feeds"
FEED_CRS = "EPSG:4326"  # esdr_metadata.json coordinates are WGS 84
UNKNOWN_UNIT = "unknown"

#: Largest |EpochTime| accepted as a timestamp (9999-12-31T23:59:59Z).
MAX_EPOCH_SECONDS = 253_402_300_799

_COLUMN_PART = re.compile(r"^\d+\.feed_(\d+)\.([A-Za-z0-9_]+)$")
_GAS = re.compile(r"^([A-Z0-9]+)_(PPM|PPB)$")
_PM25 = re.compile(r"^PM(?:25|2_5)(?:[A-Z0-9]*_)*?(?:UG_M3)?$|^PM(?:25|2_5)$")
_PM10 = re.compile(r"^PM10(?:[A-Z0-9]*_)*?(?:UG_M3)?$|^PM10$")

#: Channels with a fixed meaning: channel -> (parameter, unit, factor to that unit).
FIXED_CHANNELS: dict[str, tuple[str, str, float]] = {
    "OZONE_PPM": ("o3", "ppb", 1000.0),
    "OZONE_PPB": ("o3", "ppb", 1.0),
    "OZONE": ("o3", "ppb", 1.0),  # AirNow feeds report ozone in ppb
    "SONICWS_MPH": ("wind_speed", "mph", 1.0),
    "SONICWD_DEG": ("wind_direction", "deg", 1.0),
    "SIGTHETA_DEG": ("wind_direction_sigma", "deg", 1.0),
}


@dataclass(frozen=True)
class EsdrFeed:
    """One ESDR feed (monitoring station) from ``esdr_metadata.json``."""

    id: int
    name: str
    latitude: float | None
    longitude: float | None
    crs: str = FEED_CRS


def load_esdr_feeds(metadata_path: Path) -> dict[int, EsdrFeed]:
    """The feeds in ``esdr_metadata.json``, by feed id.

    Raises ``ValueError`` (naming the file and entry) if the file is not a list of feed objects
    with an integer ``id``.
    """
    try:
        entries = json.loads(metadata_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read ESDR feed metadata {metadata_path}: {exc}") from exc
    if not isinstance(entries, list):
        raise ValueError(f"{metadata_path}: expected a list of feeds, got {type(entries).__name__}")
    feeds: dict[int, EsdrFeed] = {}
    for position, entry in enumerate(entries):
        try:
            feed_id = int(entry["id"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f"{metadata_path}: entry {position} has no integer id ({exc})"
            ) from exc
        feeds[feed_id] = EsdrFeed(
            id=feed_id,
            name=str(entry.get("name") or ""),
            latitude=_float_or_none(entry.get("latitude")),
            longitude=_float_or_none(entry.get("longitude")),
        )
    return feeds


def canonical_channel(channel: str) -> tuple[str, str, float]:
    """(parameter, unit, factor) for an ESDR channel name; unknown -> (lower name, "unknown", 1)."""
    name = channel.upper()
    if name in FIXED_CHANNELS:
        return FIXED_CHANNELS[name]
    if _PM25.match(name):
        return "pm25", "ug/m3", 1.0
    if _PM10.match(name):
        return "pm10", "ug/m3", 1.0
    gas = _GAS.match(name)
    if gas:
        return gas.group(1).lower(), "ppb", 1000.0 if gas.group(2) == "PPM" else 1.0
    return channel.lower(), UNKNOWN_UNIT, 1.0


@dataclass(frozen=True)
class ColumnMeaning:
    """What every value of one CSV column becomes (or why all of them are rejected)."""

    column: str
    sensor_id: str | None = None
    parameter: str | None = None
    unit: str | None = None
    factor: float = 1.0
    longitude: float | None = None
    latitude: float | None = None
    crs: str = FEED_CRS
    quality: str | None = None
    reject_reason: QuarantineReason | None = None
    reject_detail: str | None = None


def column_meaning(column: str, feeds: dict[int, EsdrFeed]) -> ColumnMeaning:
    """Interpret a column name ``3.feed_<id>.<CHANNEL>[..3.feed_<id>.<CHANNEL>...]``."""
    parts = [_COLUMN_PART.match(part.strip()) for part in column.split("..")]
    if not all(parts):
        return ColumnMeaning(
            column,
            reject_reason=QuarantineReason.UNKNOWN_SENSOR,
            reject_detail=f"column {column!r} is not named 3.feed_<id>.<CHANNEL>",
        )
    feed_ids = list(dict.fromkeys(int(m.group(1)) for m in parts if m))
    channels = [m.group(2) for m in parts if m]
    sensor_id = "ESDR-" + "+".join(str(f) for f in feed_ids)
    missing = [f for f in feed_ids if f not in feeds]
    meanings = [canonical_channel(c) for c in channels]
    parameter, unit, factor = meanings[0]
    if missing:
        return ColumnMeaning(
            column,
            sensor_id=sensor_id,
            parameter=parameter,
            reject_reason=QuarantineReason.UNKNOWN_SENSOR,
            reject_detail=(
                f"feed(s) {missing} of column {column!r} not in the feed metadata "
                f"({len(feeds)} feeds known)"
            ),
        )
    if len({m[0] for m in meanings}) > 1:
        return ColumnMeaning(
            column,
            sensor_id=sensor_id,
            parameter=parameter,
            reject_reason=QuarantineReason.MALFORMED_RECORD,
            reject_detail=(
                f"merged column {column!r} mixes parameters {sorted({m[0] for m in meanings})}"
            ),
        )
    first = feeds[feed_ids[0]]
    return ColumnMeaning(
        column,
        sensor_id=sensor_id,
        parameter=parameter,
        unit=unit,
        factor=factor,
        longitude=first.longitude,
        latitude=first.latitude,
        crs=first.crs,
        quality=MERGED_QUALITY if len(parts) > 1 else None,
    )


def read_esdr_csv(path: Path, feeds: dict[int, EsdrFeed]) -> ReadResult:
    """Every non-empty value cell of the ESDR CSV at ``path``, as readings or quarantine rows."""
    source = f"{SOURCE_PREFIX}:{path.name}"
    try:
        header = _header(path)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        return _tables.file_rejected(
            source, QuarantineReason.MALFORMED_RECORD, f"cannot read CSV header: {exc}"
        )
    if not header or header[0].strip() != TIME_COLUMN or len(header) < 2:
        return _tables.file_rejected(
            source,
            QuarantineReason.MALFORMED_RECORD,
            f"not an ESDR export: header must be {TIME_COLUMN!r} then value columns, "
            f"got {len(header)} column(s)",
            raw=",".join(header),
            location="line 1",
        )

    invalid_rows: list[Any] = []

    def keep_invalid(row: Any) -> str:
        invalid_rows.append(row)
        return "skip"

    names = [f"c{i}" for i in range(len(header))]  # positional: header names may repeat
    # Single-threaded so that pyarrow reports the line number of an invalid row (and it is not
    # slower on files of a few MB). The cells are numbers, so damage stays in its cell: bytes are
    # read as latin-1 (any byte decodes; a stray one makes its cell unparseable, not the file) and
    # quotes are plain characters (an unbalanced one cannot swallow the lines after it).
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(
                column_names=names, skip_rows=1, use_threads=False, encoding="latin-1"
            ),
            parse_options=pacsv.ParseOptions(quote_char=False, invalid_row_handler=keep_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, OSError) as exc:
        return _tables.file_rejected(
            source, QuarantineReason.MALFORMED_RECORD, f"cannot parse CSV: {exc}"
        )

    epoch_text = table.column(0).combine_chunks()
    epoch = _tables.parse_numbers(epoch_text).values
    good_time = np.isfinite(epoch) & (np.abs(epoch) <= MAX_EPOCH_SECONDS)
    event_time = _epoch_to_utc(epoch, good_time)

    reading_tables: list[pa.Table] = []
    quarantine_tables: list[pa.Table] = [_invalid_rows_table(invalid_rows, source, len(header))]
    for index, column in enumerate(header[1:], start=1):
        good, bad = _read_column(
            table.column(index),
            column_meaning(column.strip(), feeds),
            epoch_text=epoch_text,
            event_time=event_time,
            good_time=good_time,
            source=source,
        )
        reading_tables.append(good)
        quarantine_tables.append(bad)
    return ReadResult(
        source=source,
        readings=_tables.concat(reading_tables, READING_SCHEMA),
        quarantine=_tables.concat(quarantine_tables, QUARANTINE_SCHEMA),
    )


def _header(path: Path) -> list[str]:
    """The first line's fields; a damaged byte in it is replaced (the header check then fails)."""
    with path.open("rb") as handle:
        first = handle.readline()
    text = first.decode("utf-8-sig", errors="replace")
    return next(csv.reader([text.rstrip("\r\n")], quoting=csv.QUOTE_NONE), [])


def _epoch_to_utc(epoch: np.ndarray, good: np.ndarray) -> np.ndarray:
    """datetime64[us] (UTC) for epoch seconds; NaT where ``good`` is False."""
    micros = np.where(good, np.round(np.where(good, epoch, 0.0) * 1_000_000), 0).astype("int64")
    times = micros.astype("datetime64[us]")
    times[~good] = np.datetime64("NaT")
    return times


def _read_column(
    cells: pa.ChunkedArray,
    meaning: ColumnMeaning,
    *,
    epoch_text: pa.Array,
    event_time: np.ndarray,
    good_time: np.ndarray,
    source: str,
) -> tuple[pa.Table, pa.Table]:
    rows = np.flatnonzero(pc.not_equal(cells, "").to_numpy(zero_copy_only=False))
    text = cells.take(pa.array(rows)).combine_chunks()
    numbers = _tables.parse_numbers(text)
    times = event_time[rows]
    time_ok = good_time[rows]

    if meaning.reject_reason is not None:
        reason = np.full(len(rows), str(meaning.reject_reason), dtype=object)
        detail = np.full(len(rows), meaning.reject_detail, dtype=object)
    else:
        conditions = [~time_ok, numbers.unparseable, numbers.non_finite]
        reason = np.select(
            conditions,
            [
                str(QuarantineReason.BAD_TIMESTAMP),
                str(QuarantineReason.UNPARSEABLE_VALUE),
                str(QuarantineReason.NON_FINITE_VALUE),
            ],
            default="",
        ).astype(object)
        detail = np.select(
            conditions,
            [
                f"{TIME_COLUMN} is not epoch seconds",
                "value is not a number",
                "value is not a finite number",
            ],
            default="",
        ).astype(object)
    rejected = reason != ""
    kept = ~rejected

    values = numbers.values[kept]
    if meaning.factor != 1.0:
        values = np.round(values * meaning.factor, 6)
    good = _tables.readings(
        int(kept.sum()),
        sensor_id=meaning.sensor_id,
        parameter=meaning.parameter,
        value=values,
        unit=meaning.unit,
        event_time=_utc(times[kept]),
        longitude=meaning.longitude,
        latitude=meaning.latitude,
        crs=meaning.crs,
        quality=meaning.quality,
        source=source,
    )
    bad_rows = rows[rejected]
    bad = _tables.quarantine(
        len(bad_rows),
        reason=reason[rejected],
        detail=detail[rejected],
        source=source,
        location=[
            f"{TIME_COLUMN}={epoch}, column={meaning.column}"
            for epoch in epoch_text.take(pa.array(bad_rows)).to_pylist()
        ],
        sensor_id=meaning.sensor_id,
        parameter=meaning.parameter,
        event_time=_utc(times[rejected]),
        raw=text.filter(pa.array(rejected)),
    )
    return good, bad


def _utc(times: np.ndarray) -> pa.Array:
    return pa.array(times, type=pa.timestamp("us"), from_pandas=True).cast(
        pa.timestamp("us", tz="UTC")
    )


def _invalid_rows_table(rows: list[Any], source: str, expected: int) -> pa.Table:
    return _tables.quarantine(
        len(rows),
        reason=str(QuarantineReason.MALFORMED_RECORD),
        detail=[f"line has {r.actual_columns} fields, header has {expected}" for r in rows],
        source=source,
        location=[f"line {r.number}" if r.number is not None else None for r in rows],
        raw=[r.text[: _tables.RAW_SNIPPET_CHARS] for r in rows],
    )


def _float_or_none(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None
