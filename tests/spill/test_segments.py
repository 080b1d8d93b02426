"""SpillStore: format, budget, verification, life cycle and crash recovery, case by case."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pyarrow as pa
import pytest

from pipeline_defs.reading import READING_SCHEMA
from pipeline_defs.spill import (
    CorruptSegment,
    SegmentFault,
    SegmentState,
    SpillFull,
    SpillStore,
    UnknownSegment,
)
from tests.spill.helpers import decode_ids, folder_recount, make_readings, reading_ids


def test_write_makes_a_verifiable_arrow_ipc_file_and_sidecar(tmp_path: Path) -> None:
    store = SpillStore(tmp_path, 10**6, clock=lambda: 1_700_000_000.0)
    info = store.write(make_readings(range(10, 20)))

    assert re.fullmatch(r"seg-000000000001-[0-9a-f]{8}", info.id)
    payload = (tmp_path / "pending" / f"{info.id}.arrow").read_bytes()
    digest = hashlib.sha256(payload).hexdigest()
    assert info.checksum == digest and info.id.endswith(digest[:8])
    assert info.bytes == len(payload) and info.records == 10
    assert info.state is SegmentState.PENDING and info.created_at == 1_700_000_000.0
    # A plain Arrow IPC file in READING_SCHEMA, readable without the store.
    with pa.ipc.open_file(pa.py_buffer(payload)) as reader:
        table = reader.read_all()
    assert table.schema.equals(READING_SCHEMA) and reading_ids(table) == list(range(10, 20))
    meta = json.loads((tmp_path / "pending" / f"{info.id}.json").read_text())
    assert (meta["records"], meta["bytes"], meta["sha256"]) == (10, len(payload), digest)
    assert meta["min_event_time_us"] == table["event_time"][0].value
    assert reading_ids(store.read(info.id)) == list(range(10, 20))


def test_ids_are_sortable_partition_keys_and_the_sequence_survives_reopening(
    tmp_path: Path,
) -> None:
    store = SpillStore(tmp_path, 10**6)
    first = [store.write(make_readings([i])).id for i in range(3)]
    store.archive(first[2])  # the newest is archived: the sequence must still go on from it
    reopened = SpillStore(tmp_path, 10**6)
    later = reopened.write(make_readings([99])).id

    ids = [*first, later]
    assert [int(i[4:16]) for i in ids] == [1, 2, 3, 4]
    assert ids == sorted(ids) and all(re.fullmatch(r"[a-z0-9-]+", i) for i in ids)


def test_spill_full_names_the_figures_and_writes_nothing(tmp_path: Path) -> None:
    # Same-width ids (100..249): every segment of 50 readings has the same size.
    one = SpillStore(tmp_path / "probe", 10**6).write(make_readings(range(100, 150))).bytes
    store = SpillStore(tmp_path / "s", 2 * one + one // 2)
    assert store.write(make_readings(range(150, 200))).bytes == one
    assert store.write(make_readings(range(200, 250))).bytes == one

    with pytest.raises(SpillFull) as refused:
        store.write(make_readings(range(100, 150)))
    assert (refused.value.pending_bytes, refused.value.segment_bytes) == (2 * one, one)
    assert refused.value.pending_segments == 2
    assert f"{2 * one:,} + {one:,} > {2 * one + one // 2:,} bytes" in str(refused.value)
    assert str(refused.value).startswith("spill full: ")
    assert folder_recount(tmp_path / "s")["pending_segments"] == 2
    assert not [p for p in (tmp_path / "s").rglob("*") if p.name.startswith(".tmp-")]

    # Archiving frees budget: the same write now fits.
    store.archive(store.list(SegmentState.PENDING)[0].id)
    assert store.write(make_readings(range(100, 150))).records == 50


def test_spill_full_message_in_megabytes(tmp_path: Path) -> None:
    error = SpillFull(
        pending_bytes=1_200_000_000,
        segment_bytes=12_000_000,
        budget_bytes=1_200_000_000,
        pending_segments=100,
    )
    assert str(error).startswith("spill full: 1,200 MB + 12 MB > budget 1,200 MB")


def test_refuses_empty_tables_and_tables_larger_than_the_budget(tmp_path: Path) -> None:
    store = SpillStore(tmp_path, 3_000)
    with pytest.raises(ValueError, match="at least one reading"):
        store.write(READING_SCHEMA.empty_table())
    with pytest.raises(ValueError, match=r"> whole budget .* \(3,000 bytes\)"):
        store.write(make_readings(range(200)))
    assert store.list() == []


def test_checksum_mismatch_quarantines_with_figures_and_spares_the_others(
    tmp_path: Path,
) -> None:
    store = SpillStore(tmp_path, 10**6)
    good, bad = store.write(make_readings(range(5))), store.write(make_readings(range(5, 9)))
    data = bytearray(bad.path.read_bytes())
    data[len(data) // 2] ^= 0x01
    bad.path.write_bytes(bytes(data))
    actual = hashlib.sha256(bytes(data)).hexdigest()

    with pytest.raises(CorruptSegment) as caught:
        store.read(bad.id)
    assert caught.value.fault == SegmentFault.CHECKSUM_MISMATCH
    assert actual[:16] in caught.value.detail and bad.checksum[:16] in caught.value.detail
    assert f"{len(data):,} bytes" in caught.value.detail

    reason = json.loads((tmp_path / "quarantine" / f"{bad.id}.reason.json").read_text())
    assert reason["fault"] == "checksum_mismatch" and reason["detail"] == caught.value.detail
    assert store.get(bad.id).state is SegmentState.QUARANTINED
    assert store.get(bad.id).fault == "checksum_mismatch"
    assert reading_ids(store.read(good.id)) == list(range(5))
    with pytest.raises(CorruptSegment, match="checksum_mismatch"):
        store.read(bad.id)  # still refused, from the reason file


def test_truncated_segment_is_quarantined_on_read_and_on_open(tmp_path: Path) -> None:
    store = SpillStore(tmp_path, 10**6)
    a, b = store.write(make_readings(range(5))), store.write(make_readings(range(5, 9)))
    for info in (a, b):
        info.path.write_bytes(info.path.read_bytes()[: info.bytes - 7])

    with pytest.raises(CorruptSegment, match=f"{a.bytes - 7:,} of {a.bytes:,} bytes present"):
        store.read(a.id)
    reopened = SpillStore(tmp_path, 10**6)
    assert reopened.recovery.quarantined == 1  # b, found by its size without reading it
    assert [(i.id, i.fault) for i in reopened.list(SegmentState.QUARANTINED)] == [
        (a.id, "truncated"),
        (b.id, "truncated"),
    ]


def test_archive_is_idempotent_and_unknown_ids_are_refused(tmp_path: Path) -> None:
    store = SpillStore(tmp_path, 10**6)
    info = store.write(make_readings(range(3)))
    assert store.archive(info.id).state is SegmentState.ARCHIVED
    assert store.archive(info.id).state is SegmentState.ARCHIVED
    assert folder_recount(tmp_path)["archived_segments"] == 1
    assert decode_ids(tmp_path / "archive" / f"{info.id}.arrow") == [0, 1, 2]
    with pytest.raises(UnknownSegment):
        store.read("seg-000000000009-00000000")
    with pytest.raises(UnknownSegment):
        store.archive("../etc/passwd")


def test_stats_recount_the_folders(tmp_path: Path) -> None:
    now = [1_000.0]
    store = SpillStore(tmp_path, 10**6, clock=lambda: now[0])
    a = store.write(make_readings(range(4)))
    now[0] = 1_010.0
    store.write(make_readings(range(4, 10)))
    c = store.write(make_readings(range(10, 12)))
    store.archive(a.id)
    c.path.write_bytes(b"garbage")
    with pytest.raises(CorruptSegment):
        store.read(c.id)
    now[0] = 1_025.0

    stats = store.stats()
    assert (stats.pending_segments, stats.pending_records) == (1, 6)
    assert (stats.archived_segments, stats.archived_records) == (1, 4)
    assert (stats.quarantined_segments, stats.quarantined_records) == (1, 2)
    assert stats.oldest_pending_age_seconds == 15.0
    assert stats.last_seq == 3
    recount = folder_recount(tmp_path)
    assert {k: getattr(stats, k) for k in recount} == recount
    assert stats.utilisation == recount["pending_bytes"] / 10**6


# --- recovery of what a crash leaves behind ----------------------------------------------------


def test_recover_removes_temp_files_and_orphan_metadata(tmp_path: Path) -> None:
    store = SpillStore(tmp_path, 10**6)
    kept = store.write(make_readings(range(3)))
    orphan = store.write(make_readings(range(3, 6)))
    orphan.path.unlink()  # as if the process died between the .json and the .arrow rename
    (tmp_path / "pending" / f".tmp-{orphan.id}.arrow-4242").write_bytes(b"half a segment")
    (tmp_path / "archive" / ".tmp-x.json-1").write_text("{")

    reopened = SpillStore(tmp_path, 10**6)
    assert reopened.recovery.temp_files_removed == 2
    assert reopened.recovery.orphan_metadata_removed == 1
    assert [i.id for i in reopened.list()] == [kept.id]
    assert sorted(p.name for p in (tmp_path / "pending").iterdir()) == [
        f"{kept.id}.arrow",
        f"{kept.id}.json",
    ]
    assert SpillStore(tmp_path, 10**6).recovery.clean


def test_recover_moves_metadata_left_behind_by_an_interrupted_move(tmp_path: Path) -> None:
    store = SpillStore(tmp_path, 10**6)
    info = store.write(make_readings(range(3)))
    # The .arrow reached archive/, the process died before its .json followed.
    info.path.rename(tmp_path / "archive" / info.path.name)

    assert store.get(info.id).records == 3  # found wherever the .json is
    reopened = SpillStore(tmp_path, 10**6)
    assert reopened.recovery.metadata_moved == 1
    assert (tmp_path / "archive" / f"{info.id}.json").exists()
    assert reopened.get(info.id).state is SegmentState.ARCHIVED
    assert reading_ids(reopened.read(info.id)) == [0, 1, 2]


def test_data_without_metadata_is_quarantined_not_dropped(tmp_path: Path) -> None:
    store = SpillStore(tmp_path, 10**6)
    info = store.write(make_readings(range(3)))
    (tmp_path / "pending" / f"{info.id}.json").unlink()

    reopened = SpillStore(tmp_path, 10**6)
    assert reopened.recovery.quarantined == 1
    segments = reopened.list()
    assert [(s.id, s.state, s.fault) for s in segments] == [
        (info.id, SegmentState.QUARANTINED, "metadata_missing")
    ]
    assert decode_ids(segments[0].path) == [0, 1, 2]  # the readings are kept for inspection


def test_orphan_reason_file_of_an_interrupted_quarantine_is_removed(tmp_path: Path) -> None:
    store = SpillStore(tmp_path, 10**6)
    info = store.write(make_readings(range(3)))
    (tmp_path / "quarantine" / f"{info.id}.reason.json").write_text('{"fault": "x"}')

    reopened = SpillStore(tmp_path, 10**6)
    assert reopened.recovery.orphan_reasons_removed == 1
    assert reopened.get(info.id).state is SegmentState.PENDING
    assert reading_ids(reopened.read(info.id)) == [0, 1, 2]


def test_metadata_that_does_not_match_its_id_is_refused(tmp_path: Path) -> None:
    store = SpillStore(tmp_path, 10**6)
    info = store.write(make_readings(range(3)))
    meta_path = tmp_path / "pending" / f"{info.id}.json"
    meta = json.loads(meta_path.read_text())
    meta["sha256"] = "0" * 64
    meta_path.write_text(json.dumps(meta))

    reopened = SpillStore(tmp_path, 10**6)
    [segment] = reopened.list()
    assert (segment.state, segment.fault) == (SegmentState.QUARANTINED, "metadata_unreadable")
