"""The names of the dashboard rollups' watermark rows (delivery.models.RollupWatermark).

A module of their own because two sides read them: the rollups (delivery.rollups) move them on,
and the all-time totals for /metrics (delivery.rollup_totals), which the rollup refresh calls
once it has committed, are stamped with the first.
"""

# The hourly and daily rollups are complete up to this row's time.
NAME = "stream_hour_stats"
# The first hour with complete minute rows.
MINUTES_NAME = "stream_minute_stats"
