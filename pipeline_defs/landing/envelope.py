"""Envelopes: the unit the landing queue stores — 1..N readings as Arrow IPC stream bytes.

Owns the byte format of a queue entry. Invariants:
- an envelope holds at least one reading and its schema is exactly ``READING_SCHEMA``
  (a table whose columns merely differ in order or nullability flags is conformed; anything
  else is refused with the differing fields named);
- ``decode_envelope(encode_envelope(t))`` equals ``t`` row for row;
- the stored size (what the queue's byte bound counts) is ``len(encode_envelope(t))``, i.e. the
  compressed IPC bytes, not the in-memory Arrow size.
"""

from __future__ import annotations

import pyarrow as pa

from pipeline_defs.reading import READING_SCHEMA

# zstd: repetitive string columns (sensor, unit, crs, source) shrink ~6x. Envelopes below
# COMPRESS_MIN_BYTES in memory are stored uncompressed: for a few readings the IPC framing dominates
# and a codec per buffer costs ~20x the decode time (2,000 one-reading envelopes: 0.7 s vs 0.04 s).
DEFAULT_COMPRESSION: str | None = "zstd"
COMPRESS_MIN_BYTES = 16 * 1024


def conform_envelope(table: pa.Table) -> pa.Table:
    """Return ``table`` in exactly ``READING_SCHEMA`` (column order, types), or raise ValueError."""
    if table.num_rows == 0:
        raise ValueError("an envelope holds at least one reading; got an empty table")
    if table.schema.equals(READING_SCHEMA, check_metadata=False):
        return table
    missing = [n for n in READING_SCHEMA.names if n not in table.schema.names]
    extra = [n for n in table.schema.names if n not in READING_SCHEMA.names]
    if missing or extra:
        raise ValueError(
            f"envelope is not in READING_SCHEMA: missing columns {missing}, unexpected {extra}"
        )
    selected = table.select(READING_SCHEMA.names)
    mistyped = [
        f"{f.name}: {selected.schema.field(f.name).type} (expected {f.type})"
        for f in READING_SCHEMA
        if selected.schema.field(f.name).type != f.type
    ]
    if mistyped:
        raise ValueError(f"envelope is not in READING_SCHEMA: {', '.join(mistyped)}")
    return selected.cast(READING_SCHEMA)


def encode_envelope(table: pa.Table, compression: str | None = DEFAULT_COMPRESSION) -> bytes:
    """Arrow IPC stream bytes of a ``READING_SCHEMA`` table (call ``conform_envelope`` first).

    ``compression`` applies to tables of at least ``COMPRESS_MIN_BYTES`` in memory; the stream
    records its codec, so ``decode_envelope`` reads either.
    """
    if table.nbytes < COMPRESS_MIN_BYTES:
        compression = None
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression=compression)
    with pa.ipc.new_stream(sink, READING_SCHEMA, options=options) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def decode_envelope(payload: bytes) -> pa.Table:
    """The ``READING_SCHEMA`` table stored in ``payload`` (Arrow IPC stream bytes)."""
    with pa.ipc.open_stream(pa.py_buffer(payload)) as reader:
        return reader.read_all()


def concat_envelopes(payloads: list[bytes]) -> pa.Table:
    """One table of all readings of ``payloads``, in order (chunks kept; no row copy)."""
    if not payloads:
        return READING_SCHEMA.empty_table()
    return pa.concat_tables([decode_envelope(p) for p in payloads])
