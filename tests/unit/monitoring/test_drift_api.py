"""GET /v1/model/drift: the latest drift report as the API's DriftReport (ClickHouse stubbed out)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fraudlake.api.main import create_app
from fraudlake.api.models import DriftReport
from fraudlake.api.routers import drift as drift_router
from fraudlake.api.settings import ApiSettings
from fraudlake.model_monitoring import drift, job, reports

pytestmark = pytest.mark.unit
AT = datetime(2026, 3, 1, tzinfo=UTC)
PATH = "/v1/model/drift"
AUTH = {"X-API-Key": "drift-test-key-0123456789"}


def _rows(*features: drift.FeatureDrift) -> list[dict[str, Any]]:
    drift_job = job.DriftJob(
        "fp",
        "ns/demo",
        "v7",
        job.Window(AT - timedelta(days=60), AT - timedelta(days=30)),
        job.Window(AT - timedelta(hours=1), AT),
    )
    report = job.DriftReport(drift_job, features, 0.05, None, 0)
    return [dict(zip(reports.COLUMNS, row, strict=True)) for row in job.report_rows(report, "r", AT)]


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What the stubbed ClickHouse read answers, and what it was asked."""
    state: dict[str, Any] = {"rows": [], "asked": []}

    def latest_rows(dsn: str, database: str, pipeline: str | None) -> list[dict[str, Any]]:
        state["asked"].append((database, pipeline))
        return state["rows"]

    monkeypatch.setattr(drift_router, "_latest_rows", latest_rows)
    return state


def _client(**settings: Any) -> TestClient:
    # Not started (no lifespan): the route needs only the settings, and no model is loaded.
    return TestClient(
        create_app(ApiSettings(api_keys="drift-test-key-0123456789", model_poll_seconds=3600, **settings))
    )


def test_the_latest_report_names_the_drifting_inputs(served: dict[str, Any]) -> None:
    served["rows"] = _rows(
        drift.FeatureDrift("amount", 0.42, "drifting", 5000, 300),
        drift.FeatureDrift("hour", 0.02, "ok", 5000, 300),
        drift.FeatureDrift("score", None, "insufficient", 10, 300),
    )
    client = _client(clickhouse_dsn="http://clickhouse:8123", clickhouse_database="fraud_demo")
    response = client.get(PATH, params={"pipeline": "ns/demo"}, headers=AUTH)
    assert response.status_code == 200, response.text
    report = DriftReport.model_validate(response.json())
    assert (report.healthy, report.drifting, report.model_version) == (False, ["amount"], "v7")
    assert report.computed_at == "2026-03-01T00:00:00Z"
    assert [(f.feature, f.psi, f.level) for f in report.features] == [
        ("amount", 0.42, "drifting"),
        ("hour", 0.02, "ok"),
        ("score", None, "insufficient"),
    ]
    assert (report.alert_rate, report.flagged_precision) == (0.05, None)
    assert served["asked"] == [("fraud_demo", "ns/demo")]


def test_no_report_is_404_and_no_clickhouse_is_503(served: dict[str, Any]) -> None:
    with_dsn = _client(clickhouse_dsn="http://clickhouse:8123")
    assert with_dsn.get(PATH, headers=AUTH).status_code == 404
    assert served["asked"] == [("fraudlake", None)]
    without = _client().get(PATH, headers=AUTH)
    assert (without.status_code, without.json()["error"]) == (503, "drift_unavailable")


def test_a_malformed_pipeline_is_refused_and_the_key_is_required(served: dict[str, Any]) -> None:
    client = _client(clickhouse_dsn="http://clickhouse:8123")
    assert client.get(PATH, params={"pipeline": "no slash"}, headers=AUTH).status_code == 422
    assert client.get(PATH).status_code == 401
    assert served["asked"] == []
