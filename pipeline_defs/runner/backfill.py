"""Launching a real backfill of spilled segments through the instance; the daemon executes it.

This is what the UI's "Materialize selected partitions → Launch backfill" does: it records a
``PartitionBackfill`` of ``replayed_spill_segments`` in the instance's storage; the daemon's
backfill loop then launches the (tagged, pool-limited) replay runs.
"""

from __future__ import annotations

import time

from dagster import AssetKey, DagsterInstance
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.utils import make_new_backfill_id
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget

from pipeline_defs.defs.tags import stage_tags
from pipeline_defs.runner.instance import WORKSPACE

REPLAY_ASSET = AssetKey("replayed_spill_segments")
SPILL_PARTITIONS = "spill_segments"
FINISHED = {
    BulkActionStatus.COMPLETED,
    BulkActionStatus.COMPLETED_SUCCESS,
    BulkActionStatus.COMPLETED_FAILED,
    BulkActionStatus.FAILED,
    BulkActionStatus.CANCELED,
}


def registered_segments(instance: DagsterInstance) -> list[str]:
    """Spill segments the spill sensor has registered as partitions."""
    return list(instance.get_dynamic_partitions(SPILL_PARTITIONS))


def launch_spill_backfill(instance: DagsterInstance, segment_ids: list[str]) -> str:
    """Record a backfill of ``segment_ids`` (registered partitions) and return its id."""
    unknown = sorted(set(segment_ids) - set(registered_segments(instance)))
    if unknown:
        raise ValueError(
            f"{len(unknown)} segment(s) are not registered partitions yet (the spill sensor adds "
            f"them within one tick): {', '.join(unknown[:5])}"
        )
    with WorkspaceProcessContext(
        instance, WorkspaceFileTarget(paths=[str(WORKSPACE)]), code_server_log_level="warning"
    ) as workspace:
        asset_graph = workspace.create_request_context().asset_graph
        backfill = PartitionBackfill.from_asset_partitions(
            backfill_id=make_new_backfill_id(),
            asset_graph=asset_graph,
            partition_names=segment_ids,
            asset_selection=[REPLAY_ASSET],
            backfill_timestamp=time.time(),
            tags=stage_tags("replay"),
            dynamic_partitions_store=instance,
            all_partitions=False,
            title=f"Replay {len(segment_ids)} spilled segment(s)",
            description="launched by `backwater spill backfill`",
            run_config=None,
        )
        instance.add_backfill(backfill)
    return backfill.backfill_id


def wait_for_backfill(
    instance: DagsterInstance, backfill_id: str, timeout: float
) -> BulkActionStatus:
    deadline = time.time() + timeout
    while time.time() < deadline:
        backfill = instance.get_backfill(backfill_id)
        if backfill is not None and backfill.status in FINISHED:
            return backfill.status
        time.sleep(2)
    raise TimeoutError(f"backfill {backfill_id} not finished after {timeout:.0f} s")
