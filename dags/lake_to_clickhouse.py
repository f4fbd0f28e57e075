"""
### lake_to_clickhouse

Loads the pipeline's lake (Parquet written by the Kafka Connect S3 sink under
`s3://<bucket>/<prefix>/raw/<topic>/`) into its ClickHouse tables, one data interval per run.

1. **list_new_objects**: objects whose last write falls in the interval and that the load ledger
   does not already have as loaded.
2. **load_objects**: ClickHouse reads them with `s3()`; data-quality checks (Parquet row counts,
   null keys, fraud-rate band) fail the task loudly and name the objects; each object is recorded
   in `load_ledger`, so reruns and overlapping intervals never load a row twice.
3. **verify_loaded**: the ledger lists every object as loaded; emits the `fraudlake_lake_tables`
   asset event for downstream DAGs.

Configuration (environment): Variable `fraudlake_lake`, Connections `fraudlake_lake` (aws) and
`fraudlake_clickhouse`; see `fraudlake.lake.runtime`. `dag_run.conf` may set `interval_start` /
`interval_end` to load an explicit window. The logic lives in `fraudlake.lake`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Asset, DeltaDataIntervalTimetable, dag, task

LAKE_TABLES = Asset(name="fraudlake_lake_tables", uri="clickhouse://fraudlake/lake_tables")


@dag(
    dag_id="lake_to_clickhouse",
    schedule=DeltaDataIntervalTimetable(timedelta(minutes=15)),
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # one loader at a time per pipeline: the ledger is read, then written
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    doc_md=__doc__,
    tags=["fraudlake", "lake", "clickhouse"],
)
def lake_to_clickhouse():
    @task
    def list_new_objects(
        data_interval_start=None, data_interval_end=None, dag_run=None
    ) -> list[dict[str, Any]]:
        from fraudlake.lake.runtime import Interval, list_new_objects

        interval = Interval.of_run(data_interval_start, data_interval_end, dag_run.conf)
        return list_new_objects(interval)

    @task
    def load_objects(
        refs: list[dict[str, Any]], data_interval_start=None, data_interval_end=None, dag_run=None
    ) -> dict[str, object]:
        from fraudlake.lake.runtime import Interval, load_objects

        interval = Interval.of_run(data_interval_start, data_interval_end, dag_run.conf)
        return load_objects(refs, interval, dag_run.run_id)

    @task(outlets=[LAKE_TABLES])
    def verify_loaded(
        refs: list[dict[str, Any]], report: dict[str, object], outlet_events=None
    ) -> dict[str, int]:
        from fraudlake.lake.runtime import verify_loaded

        objects_per_topic = verify_loaded(refs)
        outlet_events[LAKE_TABLES].extra = {
            "rows": report["rows"],
            "rows_per_table": report["rows_per_table"],
            "objects_per_topic": objects_per_topic,
        }
        return objects_per_topic

    refs = list_new_objects()
    # Airflow ships no mypy plugin: a task called on another's output gets an XComArg, not the value.
    verify_loaded(refs, load_objects(refs))  # type: ignore[arg-type]


lake_to_clickhouse()
