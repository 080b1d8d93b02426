"""Test input for the windows stage: real Pittsburgh ESDR readings in the enriched-reading shape.

Built here with plain pandas, independently of the ingress readers and the spatial join: each
``esdr_raw`` CSV is melted to long form (``EpochTime`` = UTC seconds; a column
``3.feed_<id>.<CHANNEL>`` gives sensor ``feed_<id>`` and parameter ``<CHANNEL>``; merged columns
``3.feed_a.X..3.feed_b.X`` are named after their first feed). Each feed gets a fixed fake HUC8.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

COLUMN = re.compile(r"^3\.feed_(?P<feed>\d+)\.(?P<channel>[^.]+)")

# Feeds 26 (Lawrenceville) and 28 (Liberty) share SONICWS/SONICWD/SIGTHETA channels, so the
# watershed "00000001" mixes two sensors per hour; feed 3 has no watershed.
FAKE_HUC8 = {"26": "00000001", "28": "00000001", "1": "00000002", "3": None}
TEST_FILES = (
    "Feed_26_Lawrenceville_ACHD.csv",
    "Feed_28_Liberty_ACHD.csv",
    "Feed_1_Avalon_ACHD_others.csv",
    "Feed_3_North_Braddock_ACHD.csv",
)


def esdr_readings(path: Path, huc8_of_feed: dict[str, str | None]) -> pd.DataFrame:
    """Long-form readings of one ESDR CSV: huc8, parameter, unit, value, event_time, sensor_id."""
    wide = pd.read_csv(path)
    long = wide.melt(id_vars="EpochTime", var_name="column", value_name="value").dropna(
        subset=["value"]
    )
    parts = long["column"].str.extract(COLUMN)
    if parts["feed"].isna().any():
        raise ValueError(
            f"{path.name}: unexpected column names {set(long['column'][parts.feed.isna()])}"
        )
    return pd.DataFrame(
        {
            "huc8": parts["feed"].map(huc8_of_feed).astype("str"),
            "parameter": parts["channel"].astype("str"),
            "unit": "x",
            "value": long["value"].astype("float64"),
            "event_time": pd.to_datetime(long["EpochTime"], unit="s", utc=True).astype(
                "datetime64[us, UTC]"
            ),
            "sensor_id": ("feed_" + parts["feed"]).astype("str"),
        }
    ).reset_index(drop=True)


@pytest.fixture(scope="session")
def pittsburgh_readings(source_data: Path) -> pd.DataFrame:
    """Readings of four real feeds (about 820k values, 2016-10 to 2022-01), one per
    (sensor, parameter, event time)."""
    folder = source_data / "air_quality_pittsburgh" / "esdr_raw"
    frames = [esdr_readings(folder / name, FAKE_HUC8) for name in TEST_FILES]
    readings = pd.concat(frames, ignore_index=True)
    return readings.drop_duplicates(["sensor_id", "parameter", "event_time"], ignore_index=True)
