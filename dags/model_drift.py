"""
### model_drift

Compares the pipeline's recent data with the served model's training window and records the result
in the pipeline's ClickHouse table `model_drift`, one row per monitored column:

1. **compute_drift**: population stability index (PSI, 10 bins cut at the training window's
   quantiles; 0.1 warn, 0.2 drifting) of the model's per-transaction features (computed by the
   feature spec's own formulas) and of the score, for the run's data interval against the champion's
   training window (its metrics.json periods); plus the interval's alert rate (review or decline) and
   the precision of flagged decisions one label delay earlier.

The operator reads the latest report into the FraudPipeline's `ModelHealthy` condition (False names
the drifting columns: `kubectl get fp` shows it). Configuration: Variable `fraudlake_lake`,
`fraudlake_model` (`label_delay_days`), Connections `fraudlake_clickhouse` and `fraudlake_lake` (the
model registry). `dag_run.conf` may set `reference_start` / `reference_end` (and `model_version`) to
compare against another window. The logic lives in `fraudlake.model_monitoring`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import dag, task


@dag(
    dag_id="model_drift",
    schedule="@hourly",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    doc_md=__doc__,
    tags=["fraudlake", "model", "monitoring"],
)
def model_drift():
    @task
    def compute_drift(
        data_interval_start=None, data_interval_end=None, dag_run=None, run_id=None
    ) -> dict[str, Any]:
        from fraudlake.model_monitoring.runtime import compute_drift

        return compute_drift(data_interval_start, data_interval_end, dag_run.conf, run_id)

    compute_drift()


model_drift()
