"""Model tab, drift section: the latest report from GET /v1/model/drift, or why there is none."""

from __future__ import annotations

import httpx
import pytest
from conftest import FakeClient
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Tab

from fraudlake.api.models import DriftReport
from fraudlake.ui.client import ApiError, EndpointMissingError, FraudlakeClient

pytestmark = pytest.mark.unit


def _feature(name: str, psi: float | None, level: str) -> dict[str, object]:
    return {"feature": name, "psi": psi, "level": level, "reference_rows": 5000, "recent_rows": 300}


DRIFT = DriftReport.model_validate(
    {
        "pipeline": "fraud/demo",
        "model_version": "v20260101",
        "computed_at": "2026-12-05T10:00:00Z",
        "reference_start": "2026-06-01T00:00:00Z",
        "reference_end": "2026-11-30T00:00:00Z",
        "recent_start": "2026-12-05T09:00:00Z",
        "recent_end": "2026-12-05T10:00:00Z",
        "healthy": False,
        "drifting": ["amount"],
        "alert_rate": 0.031,
        "flagged_precision": 0.42,
        "flagged_labelled": 120,
        "features": [
            _feature("hour", 0.02, "ok"),
            _feature("amount", 0.61, "drifting"),
            _feature("score", None, "insufficient"),
            _feature("mcc", 0.12, "warn"),
        ],
    }
)


def _model_tab(app: AppTest) -> Tab:
    return next(tab for tab in app.tabs if tab.label == "Model")


def test_a_drifting_report_names_the_features_and_lists_the_worst_first(
    app: AppTest, fake_client: FakeClient
) -> None:
    fake_client.drift = DRIFT
    app.run()
    assert not app.exception
    tab = _model_tab(app)
    assert "Drifting: **amount**" in tab.warning[0].value
    table = tab.dataframe[-1].value
    assert table["Feature"].tolist() == ["amount", "mcc", "hour", "score"]
    assert table["Level"].tolist() == ["Drifting", "Watch", "Stable", "Too few rows"]
    assert [m.value for m in tab.metric] == ["3.1%", "42.0%"]


def test_no_report_yet_or_no_clickhouse_is_a_note_not_an_error(app: AppTest, fake_client: FakeClient) -> None:
    app.run()
    assert any("No drift report yet" in c.value for c in _model_tab(app).caption)
    fake_client.failures["model_drift"] = ApiError(
        503, "drift_unavailable", "FRAUDLAKE_CLICKHOUSE_DSN is unset"
    )
    app.run()
    tab = _model_tab(app)
    assert any("No drift reports: FRAUDLAKE_CLICKHOUSE_DSN is unset" in c.value for c in tab.caption)
    assert not tab.error
    fake_client.failures["model_drift"] = EndpointMissingError("/v1/model/drift")
    app.run()
    assert any("does not offer drift reports" in c.value for c in _model_tab(app).caption)


def test_another_failure_is_shown_as_an_error(app: AppTest, fake_client: FakeClient) -> None:
    fake_client.failures["model_drift"] = ApiError(500, "internal_error", "boom")
    app.run()
    assert not app.exception
    assert _model_tab(app).error


def test_a_healthy_report_says_so(app: AppTest, fake_client: FakeClient) -> None:
    fake_client.drift = DRIFT.model_copy(update={"healthy": True, "drifting": []})
    app.run()
    tab = _model_tab(app)
    assert any("No input drifting against model `v20260101`" in s.value for s in tab.success)
    assert not tab.warning


def test_client_reads_the_report_and_no_report_is_none() -> None:
    answers = iter(
        [
            httpx.Response(200, json=DRIFT.model_dump(mode="json")),
            httpx.Response(
                404, json={"error": "not_found", "message": "no drift report yet", "request_id": "r"}
            ),
        ]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/model/drift"
        return next(answers)

    client = FraudlakeClient("http://api", "k" * 20, transport=httpx.MockTransport(handler))
    assert client.model_drift() == DRIFT
    assert client.model_drift() is None
