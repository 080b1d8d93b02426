"""End to end under the real ``dagster-daemon`` (subprocess): ``backwater run`` on a slice of the
real data lands every reading once, aggregates it correctly, and a second replay adds nothing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest

from pipeline_defs.settings import PROJECT_ROOT
from tests.backwater_cli import backwater_command, backwater_env

pytestmark = pytest.mark.slow

SLICE = (
    "air_quality_pittsburgh/esdr_raw/Feed_3508_South_Allegheny_High_School_AirNow.csv",
    "air_quality_pittsburgh/esdr_raw/Feed_26_Lawrenceville_ACHD.csv",
    "usgs_iv/JSON15min2day.json",
    "usgs_iv/mult_flags.json",
)


def _backwater_run(data_dir: Path, source_data: Path) -> subprocess.CompletedProcess:
    env = backwater_env(
        data_dir,
        source_data,
        batch_max_records=60_000,
        queue_max_records=100_000,  # smaller than the slice: the replay must block
        lake_settle_seconds=20,
    )
    return subprocess.run(
        backwater_command("run", "--timeout", "900", *(str(source_data / p) for p in SLICE)),
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1000,
    )


def _figure(output: str, label: str) -> int:
    for line in output.splitlines():
        if line.strip().startswith(label):
            return int(line.rsplit(maxsplit=1)[-1].replace(",", ""))
    raise AssertionError(f"no line {label!r} in:\n{output}")


def test_backwater_run_on_the_real_daemon(tmp_path: Path, source_data: Path) -> None:
    data_dir = tmp_path / "data"
    first = _backwater_run(data_dir, source_data)
    assert first.returncode == 0, first.stdout[-5000:] + first.stderr[-5000:]
    assert "RECONCILED" in first.stdout

    # independent count of what went in: non-empty cells of the two CSVs + USGS values
    csvs = [pd.read_csv(source_data / p) for p in SLICE[:2]]
    cells = sum(int(frame.drop(columns="EpochTime").notna().sum().sum()) for frame in csvs)
    values_read = _figure(first.stdout, "values read")
    landed = _figure(first.stdout, "landed in the lake (this run)")
    assert values_read > cells  # plus the USGS values
    assert (
        landed
        + _figure(first.stdout, "duplicates collapsed (this run)")
        + sum(_figure(first.stdout, f"quarantined at ingress: {r}") for r in ("no_data_value",))
        == values_read
    )

    # the hourly aggregate of one watershed-month equals plain pandas over the source CSV
    hourly = pd.read_parquet(data_dir / "lake/windows/hourly/month=2019-06.parquet")
    feed = csvs[0].rename(columns={"3.feed_3508.PM2_5": "pm25"})
    feed["hour"] = pd.to_datetime(feed["EpochTime"], unit="s", utc=True).dt.floor("h")
    june = feed[(feed["hour"] >= "2019-06-01") & (feed["hour"] < "2019-07-01")].dropna(
        subset=["pm25"]
    )
    expected = june.groupby("hour")["pm25"].agg(["mean", "min", "max", "count"])
    # feed 3508 is alone in the Lower Monongahela for pm25 in this slice
    got = hourly[(hourly["parameter"] == "pm25") & (hourly["huc8"] == "05020005")]
    got = got.set_index(got["window_start"].dt.as_unit("ns"))[["mean", "min", "max", "count"]]
    expected.index = expected.index.as_unit("ns")
    pd.testing.assert_frame_equal(
        got.sort_index(),
        expected.sort_index(),
        check_names=False,
        check_dtype=False,
        check_freq=False,
        check_index_type=False,
    )

    # replaying the same files again adds nothing
    second = _backwater_run(data_dir, source_data)
    assert second.returncode == 0, second.stdout[-5000:] + second.stderr[-5000:]
    assert _figure(second.stdout, "landed in the lake (this run)") == 0
    assert _figure(second.stdout, "duplicates collapsed (this run)") == landed
    assert _figure(second.stdout, "lake readings (all runs)") == landed
