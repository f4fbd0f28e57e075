"""
### index_to_chroma

Keeps the fraud-analyst agent's ChromaDB collection in step with the pipeline's ClickHouse data,
one data interval per run.

1. **sync_index**: builds the documents — alert/case summaries (card, merchant, amounts, window
   aggregates, model reasons), merchant and card risk profiles, the tables' own documentation — for
   the configured days up to the interval's end, embeds new or changed ones (Bedrock Titan, or the
   packaged MiniLM offline) and upserts them by stable id; documents no longer produced are deleted.
   A rerun changes nothing.
2. **verify_index**: the collection holds exactly the documents of the sync.

Configuration (environment): Variable `fraudlake_index`, Connections `fraudlake_clickhouse` and
`fraudlake_chroma`, `FRAUDLAKE_EMBEDDINGS_PROVIDER` / `FRAUDLAKE_AWS_REGION`; see
`fraudlake.agent.airflow_tasks`. `dag_run.conf` may set `window_end`. The logic lives in
`fraudlake.agent`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DeltaDataIntervalTimetable, dag, task


@dag(
    dag_id="index_to_chroma",
    schedule=DeltaDataIntervalTimetable(timedelta(hours=1)),
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # one writer per collection: the sync reads the collection, then writes it
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
    doc_md=__doc__,
    tags=["fraudlake", "agent", "chroma"],
)
def index_to_chroma():
    @task
    def sync_index(data_interval_end=None, dag_run=None) -> dict[str, Any]:
        from fraudlake.agent.airflow_tasks import sync_index, window_end_of_run

        return sync_index(window_end_of_run(data_interval_end, dag_run.conf))

    @task
    def verify_index(report: dict[str, Any]) -> dict[str, int]:
        from fraudlake.agent.airflow_tasks import verify_index

        return verify_index(report)

    # Airflow ships no mypy plugin: a task called on another's output gets an XComArg, not the value.
    verify_index(sync_index())  # type: ignore[arg-type]


index_to_chroma()
