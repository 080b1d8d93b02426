"""The canonical reading: one Arrow schema for every source, and the quarantine record.

Every reader produces ``READING_SCHEMA`` tables; every stage that rejects a value produces
``QUARANTINE_SCHEMA`` rows with a reason from ``QuarantineReason``. A reading is identified by
``READING_KEY`` (sensor, parameter, event time): two readings with the same key are one reading.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import pyarrow as pa

READING_SCHEMA = pa.schema(
    [
        pa.field("sensor_id", pa.string(), nullable=False),
        pa.field("parameter", pa.string(), nullable=False),
        pa.field("value", pa.float64(), nullable=False),
        pa.field("unit", pa.string(), nullable=False),
        pa.field("event_time", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("longitude", pa.float64()),
        pa.field("latitude", pa.float64()),
        pa.field("crs", pa.string(), nullable=False),  # e.g. "EPSG:4269" (NAD83), "EPSG:4326"
        pa.field("quality", pa.string()),  # source qualifiers joined by "|", e.g. "P|Ice"
        pa.field("source", pa.string(), nullable=False),  # "<reader>:<file name>"
    ]
)

READING_KEY = ("sensor_id", "parameter", "event_time")

QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("stage", pa.string(), nullable=False),  # ingress | enrich
        pa.field("reason", pa.string(), nullable=False),  # a QuarantineReason value
        pa.field("detail", pa.string()),  # the figures that explain it
        pa.field("source", pa.string(), nullable=False),
        pa.field("location", pa.string()),  # row / line / column in the source
        pa.field("sensor_id", pa.string()),
        pa.field("parameter", pa.string()),
        pa.field("event_time", pa.timestamp("us", tz="UTC")),
        pa.field("raw", pa.string()),  # the offending text, as read
    ]
)


class QuarantineReason(StrEnum):
    UNPARSEABLE_VALUE = "unparseable_value"
    NO_DATA_VALUE = "no_data_value"
    NON_FINITE_VALUE = "non_finite_value"
    BAD_TIMESTAMP = "bad_timestamp"
    EVENT_TIME_OUT_OF_RANGE = "event_time_out_of_range"
    UNKNOWN_SENSOR = "unknown_sensor"
    MALFORMED_RECORD = "malformed_record"
    BAD_COORDINATES = "bad_coordinates"
    NULL_ISLAND = "null_island"
    UNKNOWN_CRS = "unknown_crs"


@dataclass
class ReadResult:
    """What a reader produced from one source: readings, rejects, and how many values it saw.

    Invariant: ``values_read == readings.num_rows + quarantine.num_rows``.
    """

    source: str
    readings: pa.Table = field(default_factory=READING_SCHEMA.empty_table)
    quarantine: pa.Table = field(default_factory=QUARANTINE_SCHEMA.empty_table)

    @property
    def values_read(self) -> int:
        return self.readings.num_rows + self.quarantine.num_rows


def quarantine_table(rows: list[dict]) -> pa.Table:
    """Build a quarantine table from dicts holding (a subset of) ``QUARANTINE_SCHEMA`` fields."""
    return pa.Table.from_pylist(rows, schema=QUARANTINE_SCHEMA)
