"""Spill segments: the durable, checksummed overflow of the landing queue, on disk.

Owns the folder layout, the segment format, the disk budget and each segment's life cycle.
A producer that cannot enqueue writes its readings here; the Dagster layer replays each segment
(one partition per segment) through the lake's idempotent commit and then archives it.

Layout under ``root`` (a segment id is ``seg-<seq:012d>-<first 8 hex of sha256>``, a safe,
sortable Dagster partition key)::

    pending/      <id>.arrow   the readings: one Arrow IPC file in READING_SCHEMA
                  <id>.json    its metadata: records, bytes, sha256 of the .arrow file, created_at
    archive/      the same two files, once the readings are committed to the lake
    quarantine/   the same files (as far as they exist) + <id>.reason.json (fault, detail)
    .lock         flock: one writer/mover at a time across threads and processes

*The state of a segment is the folder of its ``.arrow`` file*; everything else follows it.

Writing (under the lock): serialize in memory, hash, check the budget, allocate the next
sequence number, then ``atomic_write`` the ``.json`` (temp + fsync + rename + fsync folder) and
only then ``atomic_write`` the ``.arrow``. The segment exists once the ``.arrow`` rename is
durable; ``write`` returns after that. Crash reasoning, at each instant of a write:

- before the ``.json`` rename: at most a ``.tmp-*`` file is left; ``recover`` deletes it;
- between the two renames: a ``.json`` with no ``.arrow`` anywhere. ``write`` never returned, so
  nobody was told the readings were admitted (the caller still holds them, or its source never
  got an acknowledgement): ``recover`` deletes the orphan — nothing admitted is dropped;
- after the ``.arrow`` rename: a complete segment, found and counted once (by its ``.arrow``).

A ``.arrow`` with no ``.json`` cannot come from a crash of this code (the ``.json`` is durable
first); if one appears in ``pending`` (lost or deleted metadata), ``recover`` quarantines it as
``metadata_missing`` — never replayed unverified, never dropped, never counted twice.

Moving (archive, quarantine): rename the ``.arrow`` first (that *is* the state change), fsync
both folders, then move the ``.json``. A crash in between leaves the ``.json`` behind; readers
look for it in every folder and ``recover`` moves it beside its ``.arrow``. Quarantine writes its
reason file before moving; a reason file whose ``.arrow`` never arrived is deleted by ``recover``.

Invariants (after any sequence of calls and crashes, once ``recover`` has run — it runs on open):

- each segment is in exactly one state: pending, archived or quarantined;
- ``sum(bytes of pending .arrow files) <= disk_budget_bytes``: a write that would exceed it
  raises ``SpillFull`` and writes nothing (the caller blocks and retries; nothing is dropped);
- sequence numbers strictly increase, also across reopenings (derived from the files present,
  so the archive must not be pruned of its newest segment);
- ``read`` returns readings only from a file whose size, sha256, schema and record count match
  its metadata; otherwise a pending segment is quarantined with the figures and ``CorruptSegment``
  is raised — other segments are unaffected. ``recover`` checks only sizes (no hashing on open);
- ``stats()`` is a recount of the folders (metadata parsed once per segment and cached: it never
  changes after the write).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from enum import StrEnum
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from pipeline_defs.lake.atomic import atomic_write, fsync_dir
from pipeline_defs.landing.envelope import COMPRESS_MIN_BYTES, conform_envelope
from pipeline_defs.pressure.figures import format_bytes
from pipeline_defs.reading import READING_SCHEMA

FORMAT_VERSION = 1
COMPRESSION = "zstd"

SEGMENT_ID_RE = re.compile(r"^seg-(\d{12})-([0-9a-f]{8})$")
_FILE_RE = re.compile(r"^(seg-(\d{12})-[0-9a-f]{8})\.(arrow|json|reason\.json)$")
_TMP_PREFIX = ".tmp-"

StepObserver = Callable[[str], None]
"""Called by ``write`` with "metadata_written" between the two renames (crash tests hook in)."""


class SegmentState(StrEnum):
    PENDING = "pending"
    ARCHIVED = "archived"
    QUARANTINED = "quarantined"


FOLDERS = {
    SegmentState.PENDING: "pending",
    SegmentState.ARCHIVED: "archive",
    SegmentState.QUARANTINED: "quarantine",
}


class SegmentFault(StrEnum):
    """Why a segment was quarantined."""

    CHECKSUM_MISMATCH = "checksum_mismatch"
    TRUNCATED = "truncated"
    UNREADABLE = "unreadable"
    METADATA_MISSING = "metadata_missing"
    METADATA_UNREADABLE = "metadata_unreadable"


class SpillFull(Exception):
    """The new segment does not fit in the disk budget next to the pending ones. Retry later."""

    def __init__(
        self, *, pending_bytes: int, segment_bytes: int, budget_bytes: int, pending_segments: int
    ) -> None:
        self.pending_bytes = pending_bytes
        self.segment_bytes = segment_bytes
        self.budget_bytes = budget_bytes
        self.pending_segments = pending_segments
        super().__init__(
            f"spill full: {format_bytes(pending_bytes)} + {format_bytes(segment_bytes)}"
            f" > budget {format_bytes(budget_bytes)} ({pending_bytes:,} + {segment_bytes:,}"
            f" > {budget_bytes:,} bytes; {pending_segments:,} pending segments to replay)"
        )


class CorruptSegment(Exception):
    """A segment failed verification; it is (or was already) in quarantine with this reason."""

    def __init__(self, segment_id: str, fault: str, detail: str) -> None:
        self.segment_id = segment_id
        self.fault = fault
        self.detail = detail
        super().__init__(f"spill segment {segment_id} failed verification: {fault}: {detail}")


class UnknownSegment(KeyError):
    """No segment with this id exists in any state."""


@dataclass(frozen=True)
class SegmentInfo:
    id: str
    seq: int
    state: SegmentState
    records: int | None  # None only for a quarantined segment whose metadata is lost
    bytes: int  # size of the .arrow file on disk (what the budget counts)
    created_at: float | None
    path: Path  # the .arrow file
    checksum: str | None  # sha256 hex of the .arrow file, from its metadata
    min_event_time_us: int | None = None
    max_event_time_us: int | None = None
    fault: str | None = None  # quarantined: the SegmentFault value
    fault_detail: str | None = None


@dataclass(frozen=True)
class SpillStats:
    pending_segments: int
    pending_records: int
    pending_bytes: int
    archived_segments: int
    archived_records: int
    archived_bytes: int
    quarantined_segments: int
    quarantined_records: int  # as far as known from surviving metadata
    quarantined_bytes: int
    budget_bytes: int
    utilisation: float  # pending_bytes / budget_bytes
    oldest_pending_age_seconds: float | None
    last_seq: int


@dataclass(frozen=True)
class RecoveryReport:
    """What ``recover`` found and did (all zero after a clean shutdown)."""

    temp_files_removed: int = 0
    orphan_metadata_removed: int = 0  # write interrupted between the two renames
    metadata_moved: int = 0  # move interrupted between the two renames
    orphan_reasons_removed: int = 0  # quarantine interrupted before the .arrow moved
    quarantined: int = 0  # pending .arrow without usable metadata, or of the wrong size

    @property
    def clean(self) -> bool:
        return not any(getattr(self, f.name) for f in fields(self))


class SpillStore:
    """Durable spill segments under ``root`` with a disk budget for the pending ones.

    Thread-safe; several processes may share ``root`` (changes happen under an flock). Opening
    runs ``recover`` (its report is ``self.recovery``).
    """

    def __init__(
        self,
        root: Path,
        disk_budget_bytes: int,
        *,
        clock: Callable[[], float] = time.time,
        on_step: StepObserver | None = None,
    ) -> None:
        if disk_budget_bytes <= 0:
            raise ValueError(f"spill disk budget must be > 0 bytes, got {disk_budget_bytes:,}")
        self.root = Path(root)
        self.disk_budget_bytes = disk_budget_bytes
        self._clock = clock
        self._on_step = on_step
        self._thread_lock = threading.RLock()
        self._lock_fd: int | None = None
        self._lock_depth = 0
        self._meta_cache: dict[str, dict] = {}
        self._last_seq = 0
        for state in SegmentState:
            self._folder(state).mkdir(parents=True, exist_ok=True)
        self.recovery = self.recover()

    def __repr__(self) -> str:
        return f"SpillStore({str(self.root)!r}, budget {format_bytes(self.disk_budget_bytes)})"

    # --- writing -----------------------------------------------------------------------------

    def write(self, readings: pa.Table) -> SegmentInfo:
        """Make ``readings`` (≥ 1, READING_SCHEMA) one durable pending segment and return it.

        Raises ``SpillFull`` (nothing written) if it does not fit in the budget now, and
        ``ValueError`` if the table is empty, not READING_SCHEMA, or larger than the whole budget.
        """
        table = conform_envelope(readings)
        payload = _encode(table)
        checksum = hashlib.sha256(payload).hexdigest()
        size = len(payload)
        if size > self.disk_budget_bytes:
            raise ValueError(
                f"spill segment of {format_bytes(size)} ({size:,} bytes, {table.num_rows:,}"
                f" records) > whole budget {format_bytes(self.disk_budget_bytes)}"
                f" ({self.disk_budget_bytes:,} bytes): write smaller tables"
            )
        event_us = pc.min_max(table["event_time"].cast(pa.int64()))
        with self._locked():
            pending = self._data_sizes(SegmentState.PENDING)
            pending_bytes = sum(pending.values())
            if pending_bytes + size > self.disk_budget_bytes:
                raise SpillFull(
                    pending_bytes=pending_bytes,
                    segment_bytes=size,
                    budget_bytes=self.disk_budget_bytes,
                    pending_segments=len(pending),
                )
            seq = max(self._last_seq, self._max_seq_on_disk()) + 1
            segment_id = f"seg-{seq:012d}-{checksum[:8]}"
            meta = {
                "format": FORMAT_VERSION,
                "id": segment_id,
                "records": table.num_rows,
                "bytes": size,
                "sha256": checksum,
                "created_at": self._clock(),
                "min_event_time_us": event_us["min"].as_py(),
                "max_event_time_us": event_us["max"].as_py(),
            }
            folder = self._folder(SegmentState.PENDING)
            atomic_write(folder / f"{segment_id}.json", lambda tmp: _write_json(tmp, meta))
            _notify(self._on_step, "metadata_written")
            atomic_write(folder / f"{segment_id}.arrow", lambda tmp: tmp.write_bytes(payload))
            self._last_seq = seq
            self._meta_cache[segment_id] = meta
            return self._info(segment_id, SegmentState.PENDING, size)

    # --- reading -----------------------------------------------------------------------------

    def list(self, state: SegmentState | str | None = None) -> list[SegmentInfo]:
        """Segments (in one state, or all), in id order (= write order)."""
        states = list(SegmentState) if state is None else [SegmentState(state)]
        with self._locked():
            found = [
                self._info(segment_id, s, size)
                for s in states
                for segment_id, size in self._data_sizes(s).items()
            ]
        return sorted(found, key=lambda info: info.seq)

    def get(self, segment_id: str) -> SegmentInfo:
        """The segment ``segment_id`` in its current state; ``UnknownSegment`` if none."""
        with self._locked():
            state, path = self._locate(segment_id)
            return self._info(segment_id, state, path.stat().st_size)

    def read(self, segment_id: str) -> pa.Table:
        """The segment's readings, verified against its metadata (size, sha256, schema, count).

        A pending segment that fails is moved to quarantine with the figures, then
        ``CorruptSegment`` is raised; so is it for an already quarantined one. An archived segment
        that fails raises ``CorruptSegment`` but stays archived (its readings are in the lake).
        """
        with self._locked():
            state, path = self._locate(segment_id)
            if state is SegmentState.QUARANTINED:
                raise CorruptSegment(segment_id, *self._reason(segment_id))
            try:
                return _verify(segment_id, path.read_bytes(), self._metadata(segment_id))
            except _Fault as bad:
                if state is SegmentState.PENDING:
                    self._quarantine(segment_id, bad.fault, bad.detail)
                raise CorruptSegment(segment_id, bad.fault, bad.detail) from None

    def stats(self) -> SpillStats:
        """Counts and bytes per state, recounted from the folders."""
        segments = self.list()
        by_state = {s: [i for i in segments if i.state is s] for s in SegmentState}
        pending = by_state[SegmentState.PENDING]
        archived = by_state[SegmentState.ARCHIVED]
        quarantined = by_state[SegmentState.QUARANTINED]
        pending_bytes = sum(i.bytes for i in pending)
        created = [i.created_at for i in pending if i.created_at is not None]
        return SpillStats(
            pending_segments=len(pending),
            pending_records=sum(i.records or 0 for i in pending),
            pending_bytes=pending_bytes,
            archived_segments=len(archived),
            archived_records=sum(i.records or 0 for i in archived),
            archived_bytes=sum(i.bytes for i in archived),
            quarantined_segments=len(quarantined),
            quarantined_records=sum(i.records or 0 for i in quarantined),
            quarantined_bytes=sum(i.bytes for i in quarantined),
            budget_bytes=self.disk_budget_bytes,
            utilisation=pending_bytes / self.disk_budget_bytes,
            oldest_pending_age_seconds=(
                max(0.0, self._clock() - min(created)) if created else None
            ),
            last_seq=max([self._last_seq, *(i.seq for i in segments)]),
        )

    # --- state changes -----------------------------------------------------------------------

    def archive(self, segment_id: str) -> SegmentInfo:
        """Record that the segment's readings are committed: move it to ``archive/``. Idempotent.

        Calling this *is* the statement that the readings are in the lake (``replay_segment``
        calls it only once the manifest holds the commit), so a quarantined segment is archived
        too (its reason file is removed).
        """
        with self._locked():
            state, _ = self._locate(segment_id)
            if state is not SegmentState.ARCHIVED:
                self._move(segment_id, state, SegmentState.ARCHIVED)
                if state is SegmentState.QUARANTINED:
                    self._reason_path(segment_id).unlink(missing_ok=True)
            return self.get(segment_id)

    def recover(self) -> RecoveryReport:
        """Clean what a crash can leave behind (see the module docstring); runs on open."""
        report = dict.fromkeys((f.name for f in fields(RecoveryReport)), 0)
        with self._locked():
            data, metadata, reasons = self._scan_all(report)
            for segment_id, state in metadata.items():
                where = data.get(segment_id)
                if where is None:  # write interrupted between its two renames
                    self._meta_path(segment_id, state).unlink()
                    fsync_dir(self._folder(state))
                    report["orphan_metadata_removed"] += 1
                elif where is not state:  # move interrupted between its two renames
                    os.replace(
                        self._meta_path(segment_id, state), self._meta_path(segment_id, where)
                    )
                    fsync_dir(self._folder(where))
                    fsync_dir(self._folder(state))
                    report["metadata_moved"] += 1
            for segment_id in sorted(reasons):
                if data.get(segment_id) is not SegmentState.QUARANTINED:
                    self._reason_path(segment_id).unlink()
                    fsync_dir(self._folder(SegmentState.QUARANTINED))
                    report["orphan_reasons_removed"] += 1
            for segment_id, state in sorted(data.items()):
                if state is SegmentState.PENDING:
                    fault = self._size_fault(segment_id)
                    if fault is not None:
                        self._quarantine(segment_id, *fault)
                        report["quarantined"] += 1
            self._last_seq = max(self._last_seq, self._max_seq_on_disk())
        return RecoveryReport(**report)

    # --- internals ---------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Reentrant within a thread; exclusive across threads (RLock) and processes (flock)."""
        with self._thread_lock:
            if self._lock_depth == 0:
                fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._lock_fd = fd
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
                if self._lock_depth == 0 and self._lock_fd is not None:
                    os.close(self._lock_fd)  # releases the flock
                    self._lock_fd = None

    def _folder(self, state: SegmentState) -> Path:
        return self.root / FOLDERS[state]

    def _data_path(self, segment_id: str, state: SegmentState) -> Path:
        return self._folder(state) / f"{segment_id}.arrow"

    def _meta_path(self, segment_id: str, state: SegmentState) -> Path:
        return self._folder(state) / f"{segment_id}.json"

    def _reason_path(self, segment_id: str) -> Path:
        return self._folder(SegmentState.QUARANTINED) / f"{segment_id}.reason.json"

    def _scan_all(
        self, report: dict[str, int]
    ) -> tuple[dict[str, SegmentState], dict[str, SegmentState], set[str]]:
        """Every folder: delete temp files (counted in ``report``); index data, metadata and
        reason files by segment id."""
        data: dict[str, SegmentState] = {}
        metadata: dict[str, SegmentState] = {}
        reasons: set[str] = set()
        for state in SegmentState:
            removed = 0
            for entry in os.scandir(self._folder(state)):
                if entry.name.startswith(_TMP_PREFIX):
                    Path(entry.path).unlink(missing_ok=True)
                    removed += 1
                elif (match := _FILE_RE.match(entry.name)) is not None:
                    segment_id, kind = match.group(1), match.group(3)
                    if kind == "arrow":
                        data[segment_id] = state
                    elif kind == "json":
                        metadata[segment_id] = state
                    elif state is SegmentState.QUARANTINED:
                        reasons.add(segment_id)
            if removed:
                fsync_dir(self._folder(state))
                report["temp_files_removed"] += removed
        return data, metadata, reasons

    def _data_sizes(self, state: SegmentState) -> dict[str, int]:
        """``{segment id: .arrow size}`` of one folder."""
        sizes = {}
        for entry in os.scandir(self._folder(state)):
            match = _FILE_RE.match(entry.name)
            if match is not None and match.group(3) == "arrow":
                sizes[match.group(1)] = entry.stat().st_size
        return sizes

    def _max_seq_on_disk(self) -> int:
        seqs = [
            int(match.group(2))
            for state in SegmentState
            for name in os.listdir(self._folder(state))
            if (match := _FILE_RE.match(name)) is not None
        ]
        return max(seqs, default=0)

    def _locate(self, segment_id: str) -> tuple[SegmentState, Path]:
        if SEGMENT_ID_RE.match(segment_id) is None:
            raise UnknownSegment(
                f"{segment_id!r} is not a spill segment id (seg-<12 digits>-<8 hex>)"
            )
        for state in SegmentState:
            path = self._data_path(segment_id, state)
            if path.exists():
                return state, path
        raise UnknownSegment(f"no spill segment {segment_id} under {self.root}")

    def _metadata(self, segment_id: str) -> dict:
        """The segment's metadata (cached); raises ``_Fault`` if missing or invalid."""
        cached = self._meta_cache.get(segment_id)
        if cached is not None:
            return cached
        for state in SegmentState:  # beside its .arrow, or left behind by an interrupted move
            path = self._meta_path(segment_id, state)
            try:
                text = path.read_text()
            except FileNotFoundError:
                continue
            meta = _parse_metadata(segment_id, text, path)
            self._meta_cache[segment_id] = meta
            return meta
        raise _Fault(
            SegmentFault.METADATA_MISSING, f"no {segment_id}.json metadata beside the data file"
        )

    def _info(self, segment_id: str, state: SegmentState, size: int) -> SegmentInfo:
        try:
            meta = self._metadata(segment_id)
        except _Fault:
            meta = {}
        fault = detail = None
        if state is SegmentState.QUARANTINED:
            fault, detail = self._reason(segment_id)
        return SegmentInfo(
            id=segment_id,
            seq=int(SEGMENT_ID_RE.match(segment_id).group(1)),
            state=state,
            records=meta.get("records"),
            bytes=size,
            created_at=meta.get("created_at"),
            path=self._data_path(segment_id, state),
            checksum=meta.get("sha256"),
            min_event_time_us=meta.get("min_event_time_us"),
            max_event_time_us=meta.get("max_event_time_us"),
            fault=fault,
            fault_detail=detail,
        )

    def _reason(self, segment_id: str) -> tuple[str, str]:
        try:
            reason = json.loads(self._reason_path(segment_id).read_text())
            return str(reason["fault"]), str(reason["detail"])
        except (OSError, ValueError, KeyError, TypeError):
            return SegmentFault.UNREADABLE.value, "reason file missing or unreadable"

    def _size_fault(self, segment_id: str) -> tuple[SegmentFault, str] | None:
        """The cheap check ``recover`` runs on pending segments: metadata usable, size right."""
        try:
            meta = self._metadata(segment_id)
        except _Fault as bad:
            return bad.fault, bad.detail
        size = self._data_path(segment_id, SegmentState.PENDING).stat().st_size
        return _size_fault(size, meta["bytes"])

    def _quarantine(self, segment_id: str, fault: str, detail: str) -> None:
        reason = {"fault": str(fault), "detail": detail, "quarantined_at": self._clock()}
        atomic_write(self._reason_path(segment_id), lambda tmp: _write_json(tmp, reason))
        self._move(segment_id, SegmentState.PENDING, SegmentState.QUARANTINED)

    def _move(self, segment_id: str, source: SegmentState, target: SegmentState) -> None:
        """Rename the .arrow (the state change), fsync both folders, then move the .json."""
        os.replace(self._data_path(segment_id, source), self._data_path(segment_id, target))
        fsync_dir(self._folder(target))
        fsync_dir(self._folder(source))
        for state in SegmentState:
            meta = self._meta_path(segment_id, state)
            if state is not target and meta.exists():
                os.replace(meta, self._meta_path(segment_id, target))
                fsync_dir(self._folder(target))
                fsync_dir(self._folder(state))


class _Fault(Exception):
    """Internal: verification failed with this fault and figures."""

    def __init__(self, fault: SegmentFault, detail: str) -> None:
        super().__init__(detail)
        self.fault = fault
        self.detail = detail


def _encode(table: pa.Table) -> bytes:
    """Arrow IPC *file* bytes (footer included, so a cut file is detectable) in READING_SCHEMA."""
    compression = COMPRESSION if table.nbytes >= COMPRESS_MIN_BYTES else None
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression=compression)
    with pa.ipc.new_file(sink, READING_SCHEMA, options=options) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _verify(segment_id: str, payload: bytes, meta: dict) -> pa.Table:
    """The readings of ``payload`` if it matches ``meta``; else raises ``_Fault`` with figures."""
    size_fault = _size_fault(len(payload), meta["bytes"])
    if size_fault is not None:
        raise _Fault(*size_fault)
    actual = hashlib.sha256(payload).hexdigest()
    if actual != meta["sha256"]:
        raise _Fault(
            SegmentFault.CHECKSUM_MISMATCH,
            f"sha256 {actual[:16]}… ≠ expected {meta['sha256'][:16]}… over {len(payload):,} bytes",
        )
    try:
        with pa.ipc.open_file(pa.py_buffer(payload)) as reader:
            table = reader.read_all()
    except (pa.ArrowInvalid, OSError) as error:
        raise _Fault(SegmentFault.UNREADABLE, f"not a readable Arrow IPC file: {error}") from None
    if not table.schema.equals(READING_SCHEMA, check_metadata=False):
        raise _Fault(SegmentFault.UNREADABLE, f"schema is not READING_SCHEMA: {table.schema}")
    if table.num_rows != meta["records"]:
        raise _Fault(
            SegmentFault.UNREADABLE,
            f"{table.num_rows:,} records in {segment_id}, {meta['records']:,} in its metadata",
        )
    return table


def _size_fault(size: int, expected: int) -> tuple[SegmentFault, str] | None:
    if size < expected:
        return SegmentFault.TRUNCATED, f"{size:,} of {expected:,} bytes present"
    if size > expected:
        return SegmentFault.CHECKSUM_MISMATCH, f"{size:,} bytes, metadata says {expected:,}"
    return None


def _parse_metadata(segment_id: str, text: str, path: Path) -> dict:
    try:
        meta = json.loads(text)
        records, size, checksum = meta["records"], meta["bytes"], meta["sha256"]
        valid = (
            meta.get("id") == segment_id
            and isinstance(records, int)
            and isinstance(size, int)
            and isinstance(checksum, str)
            and checksum[:8] == segment_id[-8:]
        )
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise _Fault(SegmentFault.METADATA_UNREADABLE, f"{path.name}: {error!r}") from None
    if not valid:
        raise _Fault(
            SegmentFault.METADATA_UNREADABLE,
            f"{path.name} does not describe {segment_id} (id {meta.get('id')!r},"
            f" sha256 {str(meta.get('sha256'))[:8]}…)",
        )
    return meta


def _write_json(path: Path, value: dict) -> None:
    path.write_text(json.dumps(value, sort_keys=True))


def _notify(on_step: StepObserver | None, step: str) -> None:
    if on_step is not None:
        on_step(step)
