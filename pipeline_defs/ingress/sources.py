"""Which files are telemetry, which reader reads each, and the event-time admission rule.

Owns:
- ``detect_source_kind`` — a file's kind from its first bytes, never from its name alone: a
  WaterML-JSON response (``.json``, or ``.txt`` as the water services also serve it) names
  ``TimeSeriesResponseType`` or has a ``"timeSeries"`` key (so a truncated response is still
  read, and quarantined as malformed); an ESDR export's first line starts with ``EpochTime,``.
- ``expand_sources`` / ``iter_source_files`` — directories expanded (recursively, sorted) into the
  telemetry files in them; licences, READMEs, metadata JSON, geometry and site files are not
  telemetry and are left out, but every ``.json``/``.txt``/``.csv`` left out is listed as skipped
  so the caller can say so. A file named explicitly is kept as given (``read_source`` judges it).
- ``read_source`` — one file through its reader; a file of no known kind becomes one
  ``malformed_record`` row. Then every reading whose ``event_time`` lies before
  ``partition_start`` or after ``now + max_future_skew`` moves to quarantine
  (``event_time_out_of_range``, with the figures).
- ``DEFAULT_REPLAY_SOURCES`` — what the demo replays, relative to the source data folder.

Invariant: ``read_source(...).values_read`` equals the reader's ``values_read``: the range rule
moves readings, it never drops them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline_defs.ingress import _tables
from pipeline_defs.ingress.esdr_csv import EsdrFeed, load_esdr_feeds, read_esdr_csv
from pipeline_defs.ingress.usgs_waterml import read_waterml_json
from pipeline_defs.reading import QUARANTINE_SCHEMA, QuarantineReason, ReadResult

#: Folders of the source data directory that the demo replays, in this order.
DEFAULT_REPLAY_SOURCES: tuple[str, ...] = ("air_quality_pittsburgh", "usgs_iv")

#: ESDR feed metadata: ``<dataset>/esdr_metadata.json``, beside ``<dataset>/esdr_raw/*.csv``.
ESDR_METADATA_NAME = "esdr_metadata.json"

#: Only files with these suffixes are opened when a directory is expanded.
CANDIDATE_SUFFIXES = frozenset({".json", ".txt", ".csv"})

SNIFF_BYTES = 4096
_ISO_SECONDS = "%Y-%m-%dT%H:%M:%SZ"  # figures in quarantine details (sub-seconds not shown)
_WATERML_MARKERS = (b"timeseriesresponsetype", b'"timeseries"')
_ESDR_MARKER = b"epochtime,"


class SourceKind(StrEnum):
    USGS_WATERML = "usgs_waterml"
    ESDR_CSV = "esdr_csv"


def detect_source_kind(path: Path) -> SourceKind | None:
    """The kind of telemetry file at ``path`` from its first bytes, or None (not telemetry)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(SNIFF_BYTES)
    except OSError:
        return None
    head = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if head.startswith(b"{") and any(marker in head.lower() for marker in _WATERML_MARKERS):
        return SourceKind.USGS_WATERML
    if head.lower().startswith(_ESDR_MARKER):
        return SourceKind.ESDR_CSV
    return None


@dataclass(frozen=True)
class SourceListing:
    """What ``paths`` hold: the telemetry files, and the candidate files of a directory that are
    not telemetry (``.json``/``.txt``/``.csv`` of no known kind, e.g. metadata or a file too
    damaged to recognise), each once, in a stable order."""

    telemetry: list[Path]
    skipped: list[Path]


def expand_sources(paths: Iterable[Path]) -> SourceListing:
    """A directory contributes its telemetry files (recursively, sorted by path); a file is kept as
    given. Order follows ``paths``; a file reached twice is listed at its first place."""
    found: dict[Path, None] = {}
    skipped: dict[Path, None] = {}
    for path in paths:
        path = Path(path)
        if not path.is_dir():
            found.setdefault(path, None)
            continue
        for candidate in sorted(p for p in path.rglob("*") if p.is_file()):
            if candidate.suffix.lower() not in CANDIDATE_SUFFIXES:
                continue
            if detect_source_kind(candidate):
                found.setdefault(candidate, None)
            else:
                skipped.setdefault(candidate, None)
    return SourceListing(list(found), [p for p in skipped if p not in found])


def iter_source_files(paths: Iterable[Path]) -> list[Path]:
    """The telemetry files under ``paths`` (see ``expand_sources``)."""
    return expand_sources(paths).telemetry


def default_replay_paths(source_data_dir: Path) -> list[Path]:
    """``DEFAULT_REPLAY_SOURCES`` under ``source_data_dir``."""
    return [source_data_dir / name for name in DEFAULT_REPLAY_SOURCES]


def read_source(
    path: Path,
    *,
    partition_start: datetime,
    max_future_skew: timedelta,
    now: datetime | None = None,
) -> ReadResult:
    """Read one telemetry file and quarantine readings outside the admissible event times.

    Admissible: ``partition_start <= event_time <= now + max_future_skew`` (``now`` defaults to
    the current UTC time). Both datetimes must be timezone-aware (``ValueError`` otherwise).
    """
    _require_aware("partition_start", partition_start)
    now = now if now is not None else datetime.now(UTC)
    _require_aware("now", now)
    result = _read_by_kind(Path(path))
    return quarantine_out_of_range(
        result, earliest=partition_start, latest=now + max_future_skew, now=now
    )


def quarantine_out_of_range(
    result: ReadResult, *, earliest: datetime, latest: datetime, now: datetime | None = None
) -> ReadResult:
    """``result`` with readings before ``earliest`` or after ``latest`` moved to quarantine."""
    readings = result.readings
    if readings.num_rows == 0:
        return result
    times = readings.column("event_time")
    time_type = readings.schema.field("event_time").type
    too_early = pc.less(times, pa.scalar(earliest, type=time_type)).to_numpy(zero_copy_only=False)
    too_late = pc.greater(times, pa.scalar(latest, type=time_type)).to_numpy(zero_copy_only=False)
    out = too_early | too_late
    if not out.any():
        return result

    moved = readings.filter(pa.array(out))
    moved_early = too_early[out]
    as_text = (
        moved.column("event_time").to_pandas().dt.strftime(_ISO_SECONDS).to_numpy(dtype=object)
    )
    late_limit = f"now {_iso(now)} + skew = {_iso(latest)}" if now else _iso(latest)
    detail = np.where(
        moved_early,
        "event_time " + as_text + f" is before partition_start {_iso(earliest)}",
        "event_time " + as_text + f" is after {late_limit}",
    )
    rejects = _tables.quarantine(
        moved.num_rows,
        reason=str(QuarantineReason.EVENT_TIME_OUT_OF_RANGE),
        detail=detail,
        source=moved.column("source"),
        location=None,
        sensor_id=moved.column("sensor_id"),
        parameter=moved.column("parameter"),
        event_time=moved.column("event_time"),
        raw=pc.cast(moved.column("value"), pa.string()),
    )
    return ReadResult(
        source=result.source,
        readings=readings.filter(pa.array(~out)),
        quarantine=_tables.concat([result.quarantine, rejects], QUARANTINE_SCHEMA),
    )


def _read_by_kind(path: Path) -> ReadResult:
    try:
        return _reader_for(path)
    except Exception as exc:  # a reader bug must not stop the other files: reject this one
        return _tables.file_rejected(
            f"unknown:{path.name}",
            QuarantineReason.MALFORMED_RECORD,
            f"{path}: the reader failed ({type(exc).__name__}: {exc}); nothing of it was read",
            raw=_head_text(path),
        )


def _reader_for(path: Path) -> ReadResult:
    kind = detect_source_kind(path)
    if kind is SourceKind.USGS_WATERML:
        return read_waterml_json(path)
    if kind is SourceKind.ESDR_CSV:
        return _read_esdr(path)
    return _tables.file_rejected(
        f"unknown:{path.name}",
        QuarantineReason.MALFORMED_RECORD,
        f"{path} is neither WaterML JSON nor an ESDR CSV export (or cannot be opened)",
        raw=_head_text(path),
    )


def _feeds_for(csv_path: Path) -> tuple[dict[int, EsdrFeed], str | None]:
    """The feed metadata in the CSV's parent's parent folder, or no feeds and why not."""
    metadata = csv_path.parent.parent / ESDR_METADATA_NAME
    try:
        return load_esdr_feeds(metadata), None
    except ValueError as exc:
        return {}, str(exc)


def _read_esdr(path: Path) -> ReadResult:
    """An ESDR export; without usable metadata every value is ``unknown_sensor``, saying why."""
    feeds, problem = _feeds_for(path)
    result = read_esdr_csv(path, feeds)
    if problem is None or result.quarantine.num_rows == 0:
        return result
    quarantine = result.quarantine
    unknown = pc.equal(quarantine.column("reason"), str(QuarantineReason.UNKNOWN_SENSOR))
    detail = pc.if_else(
        unknown,
        pc.binary_join_element_wise(quarantine.column("detail"), problem, "; "),
        quarantine.column("detail"),
    )
    index = quarantine.schema.get_field_index("detail")
    result.quarantine = quarantine.set_column(index, "detail", detail)
    return result


def _head_text(path: Path) -> str | None:
    try:
        with path.open("rb") as handle:
            return handle.read(_tables.RAW_SNIPPET_CHARS).decode("utf-8", errors="replace")
    except OSError:
        return None


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value.isoformat()}")


def _iso(value: datetime) -> str:
    """UTC, to the second, as the details show event times."""
    return value.astimezone(UTC).strftime(_ISO_SECONDS)
