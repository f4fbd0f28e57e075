"""The ModelHealthy condition: the verdict of the pipeline's latest drift report (`model_drift` DAG).

The DAG writes reports into the pipeline's own ClickHouse database; a timer reads the latest one and
sets ModelHealthy (True: no monitored column drifting; False, reason ModelDrifting, the drifting
columns named in the message). Check-then-act: the status is patched only when the condition would
change; the report's numbers are exported on the operator's /metrics (`metrics.ModelDrift`).
ModelHealthy is not a part of Ready: a drifting model still serves, and the pipeline's
children are what Ready speaks for.

No report yet, no table yet (the database is still being created) or ClickHouse out of reach: the
condition is left as it is; the drift timer and TablesReady speak for ClickHouse itself.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fraudlake.model_monitoring import reports
from fraudlake.operator import conditions, kube, metrics
from fraudlake.operator.builders import Pipeline
from fraudlake.operator.conditions import Condition
from fraudlake.operator.tables import ClickHouseUnavailableError, clickhouse, pipeline_dsn

MODEL_HEALTHY = "ModelHealthy"
logger = logging.getLogger(__name__)


def health_condition(verdict: reports.Verdict) -> Condition:
    """ModelHealthy from a report's verdict."""
    if verdict.healthy:
        return conditions.condition(MODEL_HEALTHY, True, "NoDrift", verdict.message)
    return conditions.condition(MODEL_HEALTHY, False, "ModelDrifting", verdict.message)


def updated_conditions(
    previous: Mapping[str, Any] | None, verdict: reports.Verdict | None
) -> list[Condition] | None:
    """The status conditions with ModelHealthy from `verdict`, or None when nothing would change."""
    if verdict is None:
        return None
    wanted = health_condition(verdict)
    current = conditions.find((previous or {}).get("conditions"), MODEL_HEALTHY) or {}
    if all(current.get(key) == wanted[key] for key in ("status", "reason", "message")):
        return None
    return conditions.merge((previous or {}).get("conditions"), [wanted], conditions.now())


def check(pipeline: Pipeline, status: Mapping[str, Any] | None) -> list[Condition] | None:
    """Read the latest report, export it as metrics, and return the conditions to patch (None: no
    change, or no report to go by)."""
    report = latest_report(pipeline)
    if report is None:
        return None
    metrics.MODEL_DRIFT.record(pipeline.namespace, pipeline.name, report)
    return updated_conditions(status, reports.verdict(report))


def latest_report(pipeline: Pipeline) -> list[dict[str, Any]] | None:
    """The rows of the pipeline's latest drift report (empty: none yet); None when they cannot be
    read (yet)."""
    try:
        with clickhouse(pipeline_dsn(pipeline)) as client:
            return reports.latest(
                client, pipeline.spec.clickhouse.database, f"{pipeline.namespace}/{pipeline.name}"
            )
    except (ClickHouseUnavailableError, kube.SecretMissingError) as exc:
        logger.debug("no drift report for %s/%s: %s", pipeline.namespace, pipeline.name, exc)
        return None
