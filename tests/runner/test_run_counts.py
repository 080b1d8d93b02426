"""The main job's run counts: a failed run that a retry made good is not a failure; one that stays
failed is counted and named with its job, stage and error."""

from __future__ import annotations

import time

import dagster as dg
from dagster._core.test_utils import create_run_for_test

from pipeline_defs.runner.main_job import run_counts


def test_only_failures_no_retry_made_good_are_counted_and_described() -> None:
    since = time.time() - 1
    with dg.instance_for_test() as instance:
        healed = create_run_for_test(
            instance, job_name="ingest_job", status=dg.DagsterRunStatus.FAILURE
        )
        create_run_for_test(
            instance,
            job_name="ingest_job",
            status=dg.DagsterRunStatus.SUCCESS,
            tags={"dagster/root_run_id": healed.run_id, "dagster/parent_run_id": healed.run_id},
        )
        stuck = create_run_for_test(
            instance,
            job_name="__ASSET_JOB",
            status=dg.DagsterRunStatus.FAILURE,
            tags={"backwater/stage": "windows"},
        )
        create_run_for_test(instance, job_name="ingest_job", status=dg.DagsterRunStatus.STARTED)

        counts = run_counts(instance, since, describe=True)
        quiet = run_counts(instance, since)

    assert (counts.succeeded, counts.failed, counts.in_flight, counts.retried) == (1, 1, 1, 1)
    (failure,) = counts.failures
    assert failure.startswith(f"{stuck.run_id} __ASSET_JOB [windows]: ")
    assert quiet.failed == 1 and quiet.failures == []
