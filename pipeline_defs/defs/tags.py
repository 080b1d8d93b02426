"""Run tags every Backwater run carries: its stage (``dagster.yaml`` limits runs by it) and its
retry strategy.

A run whose worker crashed is retried by the daemon (``run_retries``). The retry re-executes all
steps, not just the failed ones: every Backwater step is idempotent (batch ids commit once,
partition files are replaced atomically), and "from failure" finds nothing to retry when the crash
came after the last step finished, which would leave the run failed for good.
"""

RETRY_ALL_STEPS = {"dagster/retry_strategy": "ALL_STEPS"}


def stage_tags(stage: str) -> dict[str, str]:
    """``backwater/stage`` = ingest | windows | replay, plus the retry strategy."""
    return {"backwater/stage": stage, **RETRY_ALL_STEPS}
