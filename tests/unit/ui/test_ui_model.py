"""Model tab: the served model's report from GET /v1/model/report, charts and tables, and what an older
model version (no curves) or an older API (no report) shows instead."""

from __future__ import annotations

import httpx
import pytest
from conftest import MODEL_REPORT, FakeClient
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Tab

from fraudlake.ui.client import ApiError, EndpointMissingError, FraudlakeClient
from fraudlake.ui.model_tab import (
    decision_frame,
    importance_chart,
    importance_frame,
    metric_bars_chart,
    metric_bars_frame,
    metrics_frame,
    operating_points,
    pr_chart,
    pr_frame,
    tradeoff_chart,
)

pytestmark = pytest.mark.unit


def _model_tab(app: AppTest) -> Tab:
    return next(tab for tab in app.tabs if tab.label == "Model")


def test_model_tab_shows_the_served_version_why_it_won_and_every_chart(app: AppTest) -> None:
    app.run()
    assert not app.exception
    tab = _model_tab(app)
    text = "\n".join(m.value for m in tab.markdown)
    assert "Served model `v20260101`" in text
    assert "(c) model" in text
    assert "Why it won:** best validation AUC-PR among eligible models" in tab.success[0].value
    # PR curves, metric bars, feature importance, caught/missed/false alarms by threshold.
    assert len(tab.get("vega_lite_chart")) == 4
    assert "**Review** at ≥ 0.028 — target precision 30%" in text
    assert "**Decline** at ≥ 0.909" in text
    metrics, table = (d.value for d in tab.dataframe)
    assert metrics["Model"].tolist() == ["(a)", "(b)", "(b+)", "(c) · served"]
    assert metrics["AUC-PR"].tolist()[1] == "0.860 [0.820, 0.890]"
    assert metrics["Gate"].tolist()[0] == "baseline (not a candidate)"
    assert table[["Band", "Caught", "Missed", "False alarms"]].values.tolist()[1] == ["Review", 79, 1, 98]
    assert not tab.info


def test_an_older_model_version_says_what_it_lacks(app: AppTest, fake_client: FakeClient) -> None:
    note = "this version was trained before evaluation.json: it has no precision-recall curves"
    fake_client.report = MODEL_REPORT.model_copy(
        update={
            "pr_curves": None,
            "evaluation_schema": None,
            "notes": [note],
            "decision_table": [r for r in MODEL_REPORT.decision_table if r.bands],
        }
    )
    app.run()
    assert not app.exception
    tab = _model_tab(app)
    assert [i.value for i in tab.info] == [note]
    assert any("carries no precision-recall curves" in c.value for c in tab.caption)
    assert len(tab.get("vega_lite_chart")) == 3  # no PR curves
    assert len(tab.dataframe[1].value) == 2  # review and decline rows only


def test_an_api_without_the_report_is_information_not_an_error(app: AppTest, fake_client: FakeClient) -> None:
    fake_client.failures["model_report"] = EndpointMissingError("/v1/model/report")
    app.run()
    assert not app.exception
    tab = _model_tab(app)
    assert "/v1/model/report is not offered" in tab.info[0].value
    assert not tab.get("vega_lite_chart")


def test_a_failing_report_is_readable(app: AppTest, fake_client: FakeClient) -> None:
    fake_client.failures["model_report"] = ApiError(503, "model_not_ready", "no model loaded yet")
    app.run()
    assert "not ready yet: no model loaded yet" in _model_tab(app).error[0].value


def test_chart_data_and_specs() -> None:
    points = operating_points(MODEL_REPORT)
    assert points[["band", "label", "caught"]].values.tolist() == [
        ["Review", "Review ≥ 0.028", 79],
        ["Decline", "Decline ≥ 0.909", 44],
    ]
    bars = metric_bars_frame(MODEL_REPORT)
    assert len(bars) == 16
    assert bars["ci_low"].notna().sum() == 4  # AUC-PR's intervals only
    curves = pr_frame(MODEL_REPORT)
    assert curves.groupby("variant")["served"].first().to_dict() == {
        "(a)": False,
        "(b)": False,
        "(b+)": False,
        "(c)": True,
    }
    assert importance_frame(MODEL_REPORT)["kind"].tolist() == ["graph", "tabular"]
    assert metrics_frame(MODEL_REPORT)["AUC-PR difference [95%]"].tolist()[3] == "vs (b) [-0.090, -0.020]"
    for chart in (
        pr_chart(curves, points, 80 / 3000),
        metric_bars_chart(bars),
        importance_chart(importance_frame(MODEL_REPORT)),
        tradeoff_chart(decision_frame(MODEL_REPORT)),
    ):
        chart.to_dict(validate=True)


def test_client_reads_the_report_with_the_apis_model() -> None:
    body = MODEL_REPORT.model_dump(mode="json")

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/model/report"
        return httpx.Response(200, json=body | {"added_later": 1})

    client = FraudlakeClient("http://api", "k" * 20, transport=httpx.MockTransport(handler))
    assert client.model_report() == MODEL_REPORT
