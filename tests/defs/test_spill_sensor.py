"""The spill sensor registers each new segment as a partition once, and its optional automatic
replay waits for low pressure (no ingest run in flight, queue under half full) before it requests
a replay of exactly the registered pending segments."""

from __future__ import annotations

import dagster as dg
import pytest
from dagster._core.test_utils import create_run_for_test

from pipeline_defs.defs.resources import BackwaterResource
from pipeline_defs.defs.spill.assets import replayed_spill_segments, spill_segments
from pipeline_defs.defs.spill.sensors import spill_sensor
from tests.spill.helpers import make_readings


@pytest.fixture
def backwater(backwater_with) -> BackwaterResource:
    return backwater_with(auto_replay="true", auto_replay_quiet_seconds=0)


def _tick(instance, backwater, cursor=None):
    from pipeline_defs.definitions import defs

    context = dg.build_sensor_context(
        instance=instance,
        resources={"backwater": backwater},
        cursor=cursor,
        repository_def=defs().get_repository_def(),
    )
    return spill_sensor(context)


def _partition_keys(request: dg.RunRequest) -> set[str]:
    subset = request.asset_graph_subset
    return {ap.partition_key for ap in subset.iterate_asset_partitions()}


def test_new_segments_register_once_and_auto_replay_requests_them(
    backwater: BackwaterResource,
) -> None:
    store = backwater.spill()
    segments = [store.write(make_readings(range(i * 100, i * 100 + 100))).id for i in range(3)]
    with dg.instance_for_test() as instance:
        first = _tick(instance, backwater)
        (add,) = first.dynamic_partitions_requests
        assert add.partition_keys == segments and first.run_requests == []
        (observation,) = first.asset_events
        assert observation.metadata["spill_pending_records"].value == 300
        instance.add_dynamic_partitions(spill_segments.name, add.partition_keys)

        second = _tick(instance, backwater, first.cursor)  # quiet: replay them all
        assert second.dynamic_partitions_requests == []
        (replay,) = second.run_requests
        assert _partition_keys(replay) == set(segments)
        assert replay.tags["backwater/stage"] == "replay"
        assert {ap.asset_key for ap in replay.asset_graph_subset.iterate_asset_partitions()} == {
            replayed_spill_segments.key
        }


def test_auto_replay_waits_while_ingestion_is_busy(backwater: BackwaterResource) -> None:
    store = backwater.spill()
    segment = store.write(make_readings(range(50))).id
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(spill_segments.name, [segment])
        create_run_for_test(
            instance,
            job_name="ingest_job",
            status=dg.DagsterRunStatus.STARTED,
            tags={"backwater/stage": "ingest"},
        )
        busy = _tick(instance, backwater)
        assert busy.run_requests == []
        assert "1 pending (50 readings)" in busy.skip_reason.skip_message
