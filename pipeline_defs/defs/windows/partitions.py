"""Monthly event-time partitions: 5 years of history is ~60 partitions, far below 10,000."""

import dagster as dg

from pipeline_defs.settings import get_settings

monthly_partitions = dg.MonthlyPartitionsDefinition(
    start_date=get_settings().partition_start.strftime("%Y-%m-%d"),
    end_offset=1,  # the current, still-open month is a partition too
)
