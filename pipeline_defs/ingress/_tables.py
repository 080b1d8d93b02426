"""Column-wise builders shared by the readers: Arrow tables, number parsing, file-level rejects.

Owns the mechanics every reader repeats, so each reader module only says *what* a source means:
- ``build_table`` turns columns (arrays, or scalars broadcast to ``num_rows``) into a table of an
  exact schema (``READING_SCHEMA`` or ``QUARANTINE_SCHEMA``); a missing column is all-null.
- ``parse_numbers`` parses source text to float64 and says, per value, whether the text was not a
  number or a non-finite number (``nan``, ``inf``).
- ``file_rejected`` is the one quarantine row that stands for a whole file a reader cannot read.

Invariant: every quarantine row built here has ``stage == "ingress"``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline_defs.reading import QUARANTINE_SCHEMA, READING_SCHEMA, QuarantineReason, ReadResult

STAGE = "ingress"

#: How much of an offending text a file-level quarantine row keeps in ``raw``.
RAW_SNIPPET_CHARS = 400


def build_table(schema: pa.Schema, num_rows: int, columns: Mapping[str, Any]) -> pa.Table:
    """A table of exactly ``schema``; each column an array of ``num_rows`` values or one scalar.

    A scalar (str, float, None, datetime) is repeated ``num_rows`` times; a field absent from
    ``columns`` is all-null. Raises ``ValueError`` naming the column whose length is wrong.
    """
    unknown = set(columns) - set(schema.names)
    if unknown:
        raise ValueError(f"columns {sorted(unknown)} are not in the schema {schema.names}")
    arrays = []
    for schema_field in schema:
        value = columns.get(schema_field.name)
        arrays.append(_column(schema_field, value, num_rows))
    return pa.Table.from_arrays(arrays, schema=schema)


def _column(schema_field: pa.Field, value: Any, num_rows: int) -> pa.Array:
    if value is None:
        return pa.nulls(num_rows, type=schema_field.type)
    if isinstance(value, pa.ChunkedArray):
        value = value.combine_chunks()
    if isinstance(value, pa.Array):
        array = value if value.type == schema_field.type else value.cast(schema_field.type)
    elif isinstance(value, pd.Series | np.ndarray | list | tuple):
        array = pa.array(value, type=schema_field.type, from_pandas=True)
    else:
        return pa.repeat(pa.scalar(value, type=schema_field.type), num_rows)
    if len(array) != num_rows:
        raise ValueError(
            f"column {schema_field.name!r} has {len(array):,} values, expected {num_rows:,}"
        )
    return array


def readings(num_rows: int, **columns: Any) -> pa.Table:
    """A ``READING_SCHEMA`` table (see ``build_table``)."""
    return build_table(READING_SCHEMA, num_rows, columns)


def quarantine(num_rows: int, **columns: Any) -> pa.Table:
    """A ``QUARANTINE_SCHEMA`` table of ingress rejects (see ``build_table``)."""
    return build_table(QUARANTINE_SCHEMA, num_rows, {"stage": STAGE, **columns})


def concat(tables: Sequence[pa.Table], schema: pa.Schema) -> pa.Table:
    """All ``tables`` (each of ``schema``) as one table; an empty table for no tables."""
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return schema.empty_table()
    return pa.concat_tables(tables)


def file_rejected(
    source: str,
    reason: QuarantineReason,
    detail: str,
    raw: str | None = None,
    location: str | None = None,
) -> ReadResult:
    """A result whose only content is one quarantine row standing for the whole file."""
    if raw is not None and len(raw) > RAW_SNIPPET_CHARS:
        raw = raw[:RAW_SNIPPET_CHARS]
    return ReadResult(
        source=source,
        quarantine=quarantine(
            1, reason=str(reason), detail=detail, source=source, location=location, raw=raw
        ),
    )


def snippet_around(text: str, position: int, width: int = RAW_SNIPPET_CHARS // 2) -> str:
    """The part of ``text`` around ``position`` (e.g. where a JSON parser gave up)."""
    return text[max(0, position - width) : position + width]


@dataclass(frozen=True)
class ParsedNumbers:
    """Floats parsed from text, and which texts were not numbers or not finite numbers."""

    values: np.ndarray  # float64; NaN where unparseable
    unparseable: np.ndarray  # bool
    non_finite: np.ndarray  # bool: parsed, but NaN or +-inf


_NAN_WORDS = ("nan", "+nan", "-nan")


def parse_numbers(text: pa.Array | pa.ChunkedArray | pd.Series) -> ParsedNumbers:
    """Parse source text to float64, vectorised; a missing text (null) is unparseable.

    ``"nan"`` and ``"inf"`` are numbers that are not finite (``non_finite``); anything else that
    is not a number, including an empty text, is ``unparseable``. Surrounding blanks are allowed.
    Fast path: one Arrow cast; only when some text fails it, pandas ``to_numeric`` decides.
    """
    strings = _as_string_array(text)
    missing = strings.is_null().to_numpy(zero_copy_only=False)
    try:
        values = pc.cast(strings, pa.float64()).to_numpy(zero_copy_only=False)
        values = np.where(missing, np.nan, values)
        unparseable = missing
    except pa.ArrowInvalid:
        series = strings.to_pandas(types_mapper=None).astype(object)
        values = pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        is_nan = np.isnan(values)
        said_nan = np.zeros(len(values), dtype=bool)
        if is_nan.any():
            words = pc.utf8_lower(pc.utf8_trim_whitespace(strings.filter(pa.array(is_nan))))
            said_nan[is_nan] = pc.is_in(words, pa.array(_NAN_WORDS)).to_numpy(zero_copy_only=False)
        unparseable = (is_nan & ~said_nan) | missing
    non_finite = ~unparseable & ~np.isfinite(values)
    return ParsedNumbers(
        values=np.asarray(values, dtype="float64"),
        unparseable=np.asarray(unparseable, dtype=bool),
        non_finite=non_finite,
    )


def _as_string_array(text: pa.Array | pa.ChunkedArray | pd.Series) -> pa.Array:
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    if isinstance(text, pd.Series):
        text = pa.array(text.astype("str"), type=pa.string(), from_pandas=True)
    return text if text.type == pa.string() else text.cast(pa.string())
