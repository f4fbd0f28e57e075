"""
### train_model

Trains the fraud model from the pipeline's ClickHouse `transactions` and publishes it to the model
registry in the lake bucket (`s3://<bucket>/models/<version>/`).

1. **check_training_data**: rows and frauds in the training window (the `lookback_days` before the
   run's data interval end); too little fraud fails the run instead of publishing a weak model.
   It also picks the training path by the window's rows (`training_path`, `chunked_above_rows`).
2. **train_candidate**: velocity/merchant-risk features, GraphSAGE embeddings of the
   user–card–merchant graph, XGBoost, calibration and thresholds on a time split; evaluates the
   seeds' rule, XGBoost without and with graph features; uploads the version (not yet promoted).
   Above `chunked_above_rows` it trains the same models out of core instead (features from
   ClickHouse a week at a time, GraphSAGE on neighbour-sampled mini-batches, graph columns by chunk,
   XGBoost from iterators or on the Dask cluster at `dask_scheduler` if set) and uploads the same
   artifact (docs/training.md). Either way the result carries rows, seconds and peak memory per
   stage (`training_run`, also in the model card).
3. **champion_gate**: moves the `champion` pointer only if the candidate's test AUC-PR beats it.

Configuration: see `fraudlake.ml.runtime` (Variables `fraudlake_lake`, `fraudlake_model`,
Connections `fraudlake_lake`, `fraudlake_clickhouse`). Runs weekly. The logic lives in `fraudlake.ml`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import dag, task


@dag(
    dag_id="train_model",
    schedule="@weekly",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # one candidate at a time: the champion gate reads then writes the pointer
    default_args={"retries": 1, "retry_delay": timedelta(minutes=5)},
    doc_md=__doc__,
    tags=["fraudlake", "model"],
)
def train_model():
    @task
    def check_training_data(data_interval_end=None) -> dict[str, Any]:
        from fraudlake.ml.runtime import check_training_data, job_from_airflow

        return check_training_data(job_from_airflow(), data_interval_end)

    @task(execution_timeout=timedelta(hours=2))
    def train_candidate(window: dict[str, Any], data_interval_end=None) -> dict[str, Any]:
        from fraudlake.ml.runtime import job_from_airflow, train_candidate

        return train_candidate(job_from_airflow(), data_interval_end, window["path"])

    @task
    def champion_gate(candidate: dict[str, Any]) -> dict[str, Any]:
        from fraudlake.ml.runtime import champion_gate, job_from_airflow

        return champion_gate(job_from_airflow(), candidate["version"])

    # Airflow ships no mypy plugin: a task called on another's output gets an XComArg, not the value.
    champion_gate(train_candidate(check_training_data()))  # type: ignore[arg-type]


train_model()
