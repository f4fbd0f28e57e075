"""GET /v1/model/drift: the latest drift report of the pipeline's ClickHouse database (`model_drift` DAG).

The same report the operator turns into the FraudPipeline's ModelHealthy condition: PSI of the model's
per-transaction inputs and of its score against the training window, the alert rate and the precision
of flagged decisions whose labels have arrived.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

from fastapi import APIRouter, Query

from fraudlake.api.deps import ServicesDep
from fraudlake.api.errors import ApiError, NotFoundError, error_responses
from fraudlake.api.models import NAME, NAMESPACE, DriftReport, FeatureDrift

# Not tagged "model": the scoring service's fuzzing (tests/unit/api/test_api_schemathesis.py) runs
# without ClickHouse, where this route answers 503 by design, as the agent's routes do.
router = APIRouter(prefix="/v1/model", tags=["drift"])
PIPELINE = NAMESPACE.removesuffix("$") + "/" + NAME.removeprefix("^")


class DriftUnavailableError(ApiError):
    status_code, code = 503, "drift_unavailable"
    description = "No ClickHouse DSN configured, or ClickHouse did not answer: no drift reports to read."
    headers: ClassVar[dict[str, str] | None] = {"Retry-After": "60"}


@router.get(
    "/drift",
    response_model=DriftReport,
    responses=error_responses(NotFoundError, DriftUnavailableError, 422),
    summary="The latest drift report: PSI per model input and of the score, alert rate, precision.",
)
async def model_drift(
    services: ServicesDep,
    pipeline: Annotated[
        str | None,
        Query(pattern=PIPELINE, description="<namespace>/<name>; unset: the database's latest report."),
    ] = None,
) -> DriftReport:
    settings = services.settings
    if settings.clickhouse_dsn is None:
        raise DriftUnavailableError("FRAUDLAKE_CLICKHOUSE_DSN is unset: no drift reports to read")
    rows = await asyncio.to_thread(
        _latest_rows, settings.clickhouse_dsn.get_secret_value(), settings.clickhouse_database, pipeline
    )
    return drift_report(rows)


def drift_report(rows: Sequence[Mapping[str, Any]]) -> DriftReport:
    """The API's shape of one report's rows (`fraudlake.model_monitoring.reports.COLUMNS`)."""
    from fraudlake.model_monitoring.reports import verdict

    judged = verdict(rows)
    if judged is None:
        raise NotFoundError("no drift report yet (the model_drift DAG has not run for this pipeline)")
    first = rows[0]
    return DriftReport(
        pipeline=str(first["pipeline"]),
        model_version=str(first["model_version"]),
        computed_at=_time(first["computed_at"]),
        reference_start=_time(first["reference_start"]),
        reference_end=_time(first["reference_end"]),
        recent_start=_time(first["recent_start"]),
        recent_end=_time(first["recent_end"]),
        healthy=judged.healthy,
        drifting=list(judged.drifting),
        alert_rate=_number(first["alert_rate"]),
        flagged_precision=_number(first["flagged_precision"]),
        flagged_labelled=int(first["flagged_labelled"]),
        features=[
            FeatureDrift(
                feature=str(r["feature"]),
                psi=_number(r["psi"]),
                level=r["level"],
                reference_rows=int(r["reference_rows"]),
                recent_rows=int(r["recent_rows"]),
            )
            for r in rows
        ],
    )


def _latest_rows(dsn: str, database: str, pipeline: str | None) -> list[dict[str, Any]]:
    from clickhouse_connect.driver.exceptions import ClickHouseError

    from fraudlake.clickhouse.client import InvalidDsnError, connect
    from fraudlake.model_monitoring.reports import latest

    try:
        client = connect(dsn)
        try:
            return latest(client, database, pipeline)
        finally:
            client.close()
    except (ClickHouseError, InvalidDsnError, OSError) as exc:
        message = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise DriftUnavailableError(f"cannot read the drift reports: {message}") from None


def _time(value: datetime) -> str:
    at = value if value.tzinfo else value.replace(tzinfo=UTC)
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _number(value: Any) -> float | None:
    return None if value is None or not math.isfinite(float(value)) else float(value)
