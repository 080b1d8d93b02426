"""The Dagster layer in-process: the code location loads, and a reading's path through the sensors,
the ingest job and the partitioned assets works on real data (no daemon; see test_end_to_end)."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pyarrow as pa
import pytest

from pipeline_defs.defs.landing.assets import landed_readings
from pipeline_defs.defs.landing.sensors import landing_sensor
from pipeline_defs.defs.resources import BackwaterResource
from pipeline_defs.defs.spatial.assets import (
    enriched_telemetry,
    gauges_match_official_huc8,
    watershed_boundaries,
)
from pipeline_defs.defs.windows.assets import window_aggregates
from pipeline_defs.defs.windows.sensors import (
    RANGE_END,
    RANGE_START,
    contiguous_ranges,
    lake_commits_sensor,
    months_for_days,
)
from pipeline_defs.lake.layout import enriched_path, hourly_path, sliding_path
from pipeline_defs.lake.manifest import LakeManifest
from pipeline_defs.landing.queue import LandingQueue


def test_code_location_loads_every_definition() -> None:
    from pipeline_defs.definitions import defs

    loaded = defs() if callable(defs) else defs
    repo = loaded.get_repository_def()
    assert {s.name for s in repo.sensor_defs} == {
        "landing_sensor",
        "lake_commits_sensor",
        "spill_sensor",
    }
    assert repo.has_job("ingest_job")
    keys = {key.to_user_string() for key in repo.asset_graph.get_all_asset_keys()}
    assert keys == {
        "landed_readings",
        "watershed_boundaries",
        "enriched_telemetry",
        "hourly_window_aggregates",
        "sliding_window_aggregates",
        "replayed_spill_segments",
    }


def test_months_for_days_include_the_previous_month_at_a_month_start() -> None:
    assert months_for_days(["2018-03-15"], 24) == ["2018-03-01"]
    assert months_for_days(["2018-04-01", "2018-04-02"], 24) == ["2018-03-01", "2018-04-01"]
    keys = ["2018-01-01", "2018-02-01", "2018-03-01", "2018-04-01"]
    assert contiguous_ranges(["2018-04-01", "2018-01-01", "2018-02-01"], keys) == [
        ("2018-01-01", "2018-02-01"),
        ("2018-04-01", "2018-04-01"),
    ]


@pytest.fixture
def backwater(backwater_with) -> BackwaterResource:
    return backwater_with(batch_max_records=5000, max_ingest_runs_in_flight=2)


def test_sensors_and_assets_carry_a_month_of_readings_to_window_aggregates(
    backwater: BackwaterResource, pittsburgh_month: pa.Table
) -> None:
    readings = pittsburgh_month.slice(0, 12_000)
    with LandingQueue.from_settings(backwater.settings) as queue:
        for offset in range(0, readings.num_rows, 5_000):
            queue.put(readings.slice(offset, 5_000))
    resources = {"backwater": backwater}
    with dg.instance_for_test() as instance:
        # landing sensor: one leased batch per free ingest slot, run key = batch id
        tick = landing_sensor(dg.build_sensor_context(instance=instance, resources=resources))
        assert [r.run_key for r in tick.run_requests] == [
            "000000000001-000000000001",
            "000000000002-000000000002",
        ]
        (observation,) = tick.asset_events
        assert observation.metadata["queue_depth"].value == 12_000
        for request in tick.run_requests:
            result = dg.materialize(
                [landed_readings],
                instance=instance,
                resources=resources,
                run_config=request.run_config,
                tags=request.tags,
            )
            assert result.success
        third = landing_sensor(dg.build_sensor_context(instance=instance, resources=resources))
        assert [r.run_key for r in third.run_requests] == ["000000000003-000000000003"]
        dg.materialize(
            [landed_readings],
            instance=instance,
            resources=resources,
            run_config=third.run_requests[0].run_config,
        )
        empty = landing_sensor(dg.build_sensor_context(instance=instance, resources=resources))
        assert not empty.run_requests and "empty" in empty.skip_reason.skip_message

        manifest = LakeManifest(backwater.settings.manifest_path)
        assert manifest.totals().landed == readings.num_rows
        manifest.close()

        # lake sensor: watersheds first, then the months the commits touched, as one ranged run
        context = dg.build_sensor_context(instance=instance, resources=resources)
        first = lake_commits_sensor(context)
        assert first.asset_selection == [watershed_boundaries.key]
        boundaries = dg.materialize(
            [watershed_boundaries, gauges_match_official_huc8],
            instance=instance,
            resources=resources,
        )
        (check,) = boundaries.get_asset_check_evaluations()
        assert check.passed
        assert check.metadata["inside_polygons"].value == 176
        result = lake_commits_sensor(
            dg.build_sensor_context(instance=instance, resources=resources)
        )
        assert result.cursor == "3"
        (request,) = result.run_requests
        # readings on March 1st change the 24 h windows that start on the last day of February
        assert (request.tags[RANGE_START], request.tags[RANGE_END]) == ("2018-02-01", "2018-03-01")

        assert dg.materialize(
            [landed_readings, watershed_boundaries, enriched_telemetry, window_aggregates],
            selection=[enriched_telemetry, window_aggregates],
            instance=instance,
            resources=resources,
            partition_key="2018-03-01",
        ).success

    settings = backwater.settings
    enriched = pd.read_parquet(enriched_path(settings, "2018-03-01"))
    hourly = pd.read_parquet(hourly_path(settings, "2018-03-01"))
    sliding = pd.read_parquet(sliding_path(settings, "2018-03-01"))
    assert len(enriched) == readings.num_rows
    assert set(enriched["huc8"]) <= {"05010009", "05020005", "05030101"}
    assert hourly["count"].sum() == readings.num_rows
    assert set(sliding["window_hours"]) == {8, 24}
