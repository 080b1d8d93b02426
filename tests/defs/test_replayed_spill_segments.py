"""The replay asset's metadata tells what this run did: a second replay of the same segments lands
nothing and says they were already committed."""

from __future__ import annotations

import dagster as dg

from pipeline_defs.defs.resources import BackwaterResource
from pipeline_defs.defs.spill.assets import replayed_spill_segments, spill_segments
from pipeline_defs.lake.manifest import LakeManifest
from tests.spill.helpers import make_readings


def _replay(instance, backwater: BackwaterResource, segment: str) -> dict:
    result = dg.materialize(
        [replayed_spill_segments],
        instance=instance,
        resources={"backwater": backwater},
        partition_key=segment,
    )
    (materialization,) = result.asset_materializations_for_node(
        replayed_spill_segments.node_def.name
    )
    return {key: value.value for key, value in materialization.metadata.items()}


def test_a_second_replay_lands_nothing_and_says_so(backwater_with) -> None:
    backwater = backwater_with()
    segment = backwater.spill().write(make_readings(range(300))).id
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(spill_segments.name, [segment])
        first = _replay(instance, backwater, segment)
        second = _replay(instance, backwater, segment)

    assert (first["replayed_records"], first["landed"], first["already_committed"]) == (300, 300, 0)
    assert (second["replayed_records"], second["landed"], second["already_committed"]) == (0, 0, 1)
    manifest = LakeManifest(backwater.settings.manifest_path)
    assert manifest.totals().landed == 300 == manifest.key_count()
    manifest.close()
