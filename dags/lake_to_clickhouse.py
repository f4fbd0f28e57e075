"""
### lake_to_clickhouse

Loads the pipeline's lake (Parquet written by the Kafka Connect S3 sink under
`s3://<bucket>/<prefix>/raw/<topic>/<topic id>/`) into its ClickHouse tables, one data interval per run, and
sweeps in whatever earlier intervals left unloaded (their run never happened or failed).

1. **list_new_objects**: per topic, objects last written from the topic's watermark (minus an
   overlap; at most a bounded lookback back) to the interval's end that the load ledger does not
   have as loaded; logs and returns how many were swept in from before the interval.
2. **load_objects**: ClickHouse reads them with `s3()`; data-quality checks (Parquet row counts,
   null keys, fraud-rate band) fail the task loudly and name the objects; each object is recorded
   in `load_ledger`, so reruns and overlapping sweeps never load a row twice (offsets count per
   topic id: a recreated topic's rows load); rows skipped as already loaded must be in the table,
   else the task fails naming the objects. Each topic's
   watermark (`load_watermark`) then moves to its oldest listed object still not loaded (retried
   by the next runs), else to the end of what was listed.
3. **verify_loaded**: the ledger lists every object as loaded; emits the `fraudlake_lake_tables`
   asset event for downstream DAGs.

Configuration (environment): Variable `fraudlake_lake`, Connections `fraudlake_lake` (aws) and
`fraudlake_clickhouse`; see `fraudlake.lake.runtime`. `dag_run.conf` may set `interval_start` /
`interval_end` to load an explicit window (listed whole, however old). The logic lives in
`fraudlake.lake` (the sweep: `fraudlake.lake.sweep`).
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
    @task(multiple_outputs=False)  # one XCom: the object references are not stored twice
    def list_new_objects(data_interval_start=None, data_interval_end=None, dag_run=None) -> dict[str, Any]:
        from fraudlake.lake.runtime import Interval, list_new_objects

        interval = Interval.of_run(data_interval_start, data_interval_end, dag_run.conf)
        return list_new_objects(interval)

    @task
    def load_objects(
        listing: dict[str, Any], data_interval_start=None, data_interval_end=None, dag_run=None
    ) -> dict[str, object]:
        from fraudlake.lake.runtime import Interval, load_objects

        interval = Interval.of_run(data_interval_start, data_interval_end, dag_run.conf)
        return load_objects(listing, interval, dag_run.run_id)

    @task(outlets=[LAKE_TABLES])
    def verify_loaded(
        listing: dict[str, Any], report: dict[str, object], outlet_events=None
    ) -> dict[str, int]:
        from fraudlake.lake.runtime import verify_loaded

        objects_per_topic = verify_loaded(listing)
        outlet_events[LAKE_TABLES].extra = {
            "rows": report["rows"],
            "rows_per_table": report["rows_per_table"],
            "objects_per_topic": objects_per_topic,
            "swept_objects": report.get("swept_objects", 0),
        }
        return objects_per_topic

    listing = list_new_objects()
    # Airflow ships no mypy plugin: a task called on another's output gets an XComArg, not the value.
    verify_loaded(listing, load_objects(listing))  # type: ignore[arg-type]


lake_to_clickhouse()
