"""
### shadow_gate

Settles the model registry's challenger (`challenger.json`), the version the stream scorers score in
shadow beside the champion:

1. **settle_challenge**: compares champion and challenger on the shadow period's transactions whose
   labels are known (one label delay old; an analyst's disposition, else a chargeback, else the
   transaction's own label): AUC-PR with a card-bootstrap interval of the difference, frauds caught and
   fraud amount missed at the analysts' review capacity, and alert volume. It promotes the challenger
   (the champion pointer moves; scorers and the API follow at their next poll), refuses it (the
   challenge ends, with the reason) or, with too few labelled frauds, keeps it in shadow.

Configuration: Variable `fraudlake_lake`, `fraudlake_model` (`label_delay_days`), Connections
`fraudlake_clickhouse` and `fraudlake_lake` (the registry). `dag_run.conf` may set `capacity`,
`min_frauds`, `max_alert_growth`, `cost_tolerance`. The logic lives in
`fraudlake.model_monitoring.promotion`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import dag, task


@dag(
    dag_id="shadow_gate",
    schedule="@daily",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    doc_md=__doc__,
    tags=["fraudlake", "model", "promotion"],
)
def shadow_gate():
    @task
    def settle_challenge(data_interval_end=None, dag_run=None) -> dict[str, Any]:
        from fraudlake.model_monitoring.runtime import settle_challenge_from_airflow

        return settle_challenge_from_airflow(data_interval_end, dag_run.conf)

    settle_challenge()


shadow_gate()
