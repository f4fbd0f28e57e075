"""What the `model_drift` DAG's task calls: configuration from Airflow, then the drift job.

Configuration reuses the other DAGs' channels: Variable `fraudlake_lake` (namespace, pipeline,
database), Connection `fraudlake_clickhouse` (the DSN), the model registry of `fraudlake.ml.runtime`
(the champion's metrics.json gives the training window), and Variable `fraudlake_model`'s
`label_delay_days`. `dag_run.conf` may set `reference_start` / `reference_end` (ISO times) to compare
against another window than the champion's training window, and `model_version` to name it.

The recent window is the run's data interval: a rerun of the same interval compares the same rows.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from fraudlake.model_monitoring.job import DriftJob, Window, reference_window, run, summary
from fraudlake.orchestration.failures import fail_without_retry

log = logging.getLogger(__name__)


class NoReferenceError(RuntimeError):
    """No champion model (nor a reference window in the run's conf): nothing to compare against."""


def reference_from_conf(conf: dict[str, Any] | None) -> tuple[str, Window] | None:
    """An explicit reference window from `dag_run.conf`, with the version it stands for."""
    conf = conf or {}
    if not conf.get("reference_start") or not conf.get("reference_end"):
        return None
    window = Window(
        datetime.fromisoformat(conf["reference_start"]), datetime.fromisoformat(conf["reference_end"])
    )
    return str(conf.get("model_version") or "conf"), window


def champion_reference() -> tuple[str, Window]:
    """The champion model's version and training window, from the registry."""
    from fraudlake.ml.runtime import job_from_airflow

    registry = job_from_airflow().registry()
    pointer = registry.champion()
    if pointer is None:
        raise NoReferenceError("no champion model in the registry: nothing to compare the recent data with")
    version = str(pointer["version"])
    metrics = json.loads(registry.files(version)["metrics.json"])
    return version, reference_window(metrics)


def label_delay_from_airflow() -> timedelta:
    from airflow.sdk import Variable

    from fraudlake.ml.runtime import MODEL_VARIABLE

    options = Variable.get(MODEL_VARIABLE, default=None, deserialize_json=True) or {}
    return timedelta(days=float(options.get("label_delay_days", 7.0)))


def compute_drift(start: datetime, end: datetime, conf: dict[str, Any] | None, run_id: str) -> dict[str, Any]:
    """The task: compare the run's interval with the reference and append the report to model_drift."""
    from fraudlake.clickhouse.client import connect
    from fraudlake.lake.runtime import clickhouse_dsn_from_airflow, pipeline_from_airflow

    pipeline = pipeline_from_airflow()
    with fail_without_retry(NoReferenceError):  # retrying will not promote a model
        version, reference = reference_from_conf(conf) or champion_reference()
    job = DriftJob(
        pipeline.database,
        f"{pipeline.namespace}/{pipeline.pipeline}",
        version,
        reference,
        Window(start, end),
        label_delay_from_airflow(),
    )
    client = connect(clickhouse_dsn_from_airflow())
    try:
        # Stamped with the interval's end, not the clock: a rerun of an old interval is not "latest".
        report = run(client, job, run_id, end)
    finally:
        client.close()
    result = summary(report)
    log.info("drift of %s against model %s: %s", job.pipeline, version, result)
    return result


_GATE_OPTIONS = {"capacity": float, "min_frauds": int, "max_alert_growth": float, "cost_tolerance": float}


def settle_challenge_from_airflow(now: datetime, conf: dict[str, Any] | None) -> dict[str, Any]:
    """The `shadow_gate` DAG's task: the gate on the registry's challenger for the configured pipeline.
    `dag_run.conf` may set `capacity`, `min_frauds`, `max_alert_growth`, `cost_tolerance`."""
    from fraudlake.clickhouse.client import connect
    from fraudlake.lake.runtime import clickhouse_dsn_from_airflow, pipeline_from_airflow
    from fraudlake.ml.runtime import job_from_airflow
    from fraudlake.model_monitoring.promotion import GatePolicy, settle_challenge

    conf = conf or {}
    policy = GatePolicy(
        label_delay=label_delay_from_airflow(),
        **{name: cast(conf[name]) for name, cast in _GATE_OPTIONS.items() if name in conf},
    )
    pipeline = pipeline_from_airflow()
    client = connect(clickhouse_dsn_from_airflow())
    try:
        verdict = settle_challenge(client, pipeline.database, job_from_airflow().registry(), now, policy)
    finally:
        client.close()
    log.info("shadow gate of %s/%s: %s", pipeline.namespace, pipeline.pipeline, verdict)
    return verdict
