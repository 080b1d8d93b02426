"""Model-based test of SpillStore: random writes, reads, archives, damage, crashes and reopenings.

A plain-Python model predicts each segment's state and content. After every step:

- every admitted reading is in exactly one segment, and that segment is in exactly one state
  folder, the one the model predicts; intact files decode (with pyarrow directly) to the model's
  readings; refused writes left nothing;
- the bytes of pending segments on disk never exceed the budget;
- segment ids strictly increase in write order;
- ``stats()`` equals a recount of the folders.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from pipeline_defs.spill import CorruptSegment, SegmentState, SpillFull, SpillStore
from tests.spill.helpers import (
    STATE_FOLDERS,
    data_files,
    decode_ids,
    folder_recount,
    make_readings,
    reading_ids,
)

BUDGET = 14_000  # 2-6 segments of 1-30 readings fit; then writes are refused until archives
PADS = st.sampled_from((0, 0, 0, 40, 200))
PENDING, ARCHIVED, QUARANTINED = SegmentState


@dataclass
class ModelSegment:
    ids: list[int]
    state: SegmentState
    size: int  # bytes on disk
    damage: str | None = None  # None | "checksum_mismatch" | "truncated"
    fault: str | None = None  # once quarantined


class SpillStoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="spill-model-"))
        self.store = SpillStore(self.root, BUDGET)
        self.segments: dict[str, ModelSegment] = {}
        self.next_reading = 0
        self.admitted: list[int] = []
        self.last_seq = 0
        self.leftover_temp = 0
        self.leftover_orphans = 0

    def teardown(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def _ids(self, state: SegmentState, *, intact: bool = False) -> list[str]:
        return sorted(
            i
            for i, m in self.segments.items()
            if m.state is state and (m.damage is None or not intact)
        )

    def _pending_bytes(self) -> int:
        return sum(m.size for m in self.segments.values() if m.state is PENDING)

    # --- rules ---------------------------------------------------------------------------------

    @initialize(sizes=st.lists(st.integers(1, 30), min_size=1, max_size=3))
    def some_segments(self, sizes: list[int]) -> None:
        for n in sizes:
            self.write(n, 0)

    @rule(n=st.integers(1, 30), pad=PADS)
    def write(self, n: int, pad: int) -> None:
        ids = list(range(self.next_reading, self.next_reading + n))
        self.next_reading += n
        try:
            info = self.store.write(make_readings(ids, pad))
        except SpillFull as refused:
            assert refused.pending_bytes == self._pending_bytes()
            assert refused.pending_bytes + refused.segment_bytes > BUDGET
            event("write refused: spill full")
            return
        assert self._pending_bytes() + info.bytes <= BUDGET
        assert info.seq > self.last_seq, (info.seq, self.last_seq)
        assert info.id > max(self.segments, default="")
        self.last_seq = info.seq
        self.segments[info.id] = ModelSegment(ids, PENDING, info.bytes)
        self.admitted.extend(ids)

    @precondition(lambda self: self.segments)
    @rule(data=st.data())
    def read(self, data: st.DataObject) -> None:
        segment_id = data.draw(st.sampled_from(sorted(self.segments)))
        model = self.segments[segment_id]
        try:
            table = self.store.read(segment_id)
        except CorruptSegment as corrupt:
            assert model.state is QUARANTINED or model.damage is not None, corrupt
            if model.state is PENDING:
                model.state, model.fault = QUARANTINED, model.damage
                event(f"read quarantined a segment: {model.fault}")
            assert corrupt.fault == model.fault or model.state is ARCHIVED
            return
        assert model.state is not QUARANTINED and model.damage is None
        assert reading_ids(table) == model.ids

    @precondition(lambda self: self._ids(PENDING) or self._ids(ARCHIVED))
    @rule(data=st.data())
    def archive(self, data: st.DataObject) -> None:
        segment_id = data.draw(st.sampled_from(self._ids(PENDING) + self._ids(ARCHIVED)))
        assert self.store.archive(segment_id).state is ARCHIVED
        self.segments[segment_id].state = ARCHIVED

    @precondition(lambda self: self._ids(PENDING, intact=True))
    @rule(data=st.data())
    def corrupt_a_byte(self, data: st.DataObject) -> None:
        segment_id = data.draw(st.sampled_from(self._ids(PENDING, intact=True)))
        path = self.root / "pending" / f"{segment_id}.arrow"
        content = bytearray(path.read_bytes())
        content[data.draw(st.integers(0, len(content) - 1))] ^= 0xFF
        path.write_bytes(bytes(content))
        self.segments[segment_id].damage = "checksum_mismatch"

    def _untruncated_pending(self) -> list[str]:
        return [i for i in self._ids(PENDING) if self.segments[i].damage != "truncated"]

    @precondition(lambda self: self._untruncated_pending())
    @rule(data=st.data())
    def truncate(self, data: st.DataObject) -> None:
        segment_id = data.draw(st.sampled_from(self._untruncated_pending()))
        path = self.root / "pending" / f"{segment_id}.arrow"
        model = self.segments[segment_id]
        model.size = data.draw(st.integers(0, model.size - 1))
        path.write_bytes(path.read_bytes()[: model.size])
        model.damage = "truncated"

    @rule(
        folder=st.sampled_from(sorted(STATE_FOLDERS.values())),
        orphan_metadata=st.booleans(),
    )
    def crash_leftovers(self, folder: str, orphan_metadata: bool) -> None:
        """What a kill -9 mid-write leaves: a temp file, maybe a .json whose .arrow never came."""
        tmp_name = f".tmp-seg-{self.last_seq + 1:012d}-0badf00d.arrow-{self.leftover_temp}"
        (self.root / folder / tmp_name).write_bytes(b"\x00" * 100)
        self.leftover_temp += 1
        if orphan_metadata:
            orphan = self.root / "pending" / f"seg-{self.last_seq + 1:012d}-0badf00d.json"
            if not orphan.exists():
                orphan.write_text('{"id": "never completed"}')
                self.leftover_orphans += 1

    @rule()
    def reopen(self) -> None:
        self.store = SpillStore(self.root, BUDGET)
        truncated = 0
        for model in self.segments.values():
            if model.state is PENDING and model.damage == "truncated":
                model.state, model.fault = QUARANTINED, "truncated"
                truncated += 1
        recovery = self.store.recovery
        assert recovery.quarantined == truncated
        if truncated:
            event("reopen quarantined a truncated segment")
        assert recovery.temp_files_removed == self.leftover_temp
        assert recovery.orphan_metadata_removed == self.leftover_orphans
        self.leftover_temp = self.leftover_orphans = 0

    # --- invariants ----------------------------------------------------------------------------

    @invariant()
    def each_reading_in_exactly_one_state(self) -> None:
        on_disk = {state: data_files(self.root, state) for state in STATE_FOLDERS}
        seen: dict[str, str] = {}
        for state, files in on_disk.items():
            for segment_id in files:
                assert segment_id not in seen, (segment_id, seen.get(segment_id), state)
                seen[segment_id] = state
        assert seen == {i: m.state.value for i, m in self.segments.items()}
        assert {i.id: i.state for i in self.store.list()} == {
            i: m.state for i, m in self.segments.items()
        }
        readings = [r for m in self.segments.values() for r in m.ids]
        assert sorted(readings) == sorted(self.admitted) and len(set(readings)) == len(readings)
        for segment_id, model in self.segments.items():
            if model.damage is None:
                assert decode_ids(on_disk[model.state.value][segment_id]) == model.ids

    @invariant()
    def pending_bytes_within_budget(self) -> None:
        pending = data_files(self.root, "pending").values()
        assert sum(p.stat().st_size for p in pending) <= BUDGET

    @invariant()
    def stats_equal_a_recount(self) -> None:
        stats = self.store.stats()
        recount = folder_recount(self.root)
        assert {k: getattr(stats, k) for k in recount} == recount
        assert stats.pending_bytes == self._pending_bytes()
        quarantined = {i.id: i.fault for i in self.store.list(QUARANTINED)}
        assert quarantined == {
            i: m.fault for i, m in self.segments.items() if m.state is QUARANTINED
        }


SpillStoreMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestSpillStoreModel = SpillStoreMachine.TestCase
