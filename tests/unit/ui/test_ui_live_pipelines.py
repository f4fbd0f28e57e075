"""Live and Pipelines tabs: shown from the API when it offers them, a plain message or hidden otherwise."""

from __future__ import annotations

import pytest
from conftest import TOP_MERCHANTS, FakeClient, pipeline
from streamlit.testing.v1 import AppTest

from fraudlake.ui.client import ApiError, ApiUnreachableError
from fraudlake.ui.live_tab import frame, with_merchant_labels

pytestmark = pytest.mark.unit


def _tab_labels(app: AppTest) -> list[str]:
    return [tab.label for tab in app.tabs if tab.label in {"Score", "Agent", "Live", "Pipelines"}]


def test_live_says_not_available_on_404_and_pipelines_tab_is_hidden(app: AppTest) -> None:
    app.run()
    assert not app.exception
    assert "Live data is not available from this API" in "\n".join(i.value for i in app.info)
    assert _tab_labels(app) == ["Score", "Agent", "Live"]


def test_live_panels_and_playground_from_the_sql_endpoint(app: AppTest, fake_client: FakeClient) -> None:
    del fake_client.failures["sql"]
    app.run()
    assert not app.exception
    queries = [arg for name, arg in fake_client.calls if name == "sql"]
    assert any("FROM alerts FINAL ORDER BY event_ts DESC" in q for q in queries)
    assert any("toStartOfHour" in q for q in queries)
    assert "Recent alerts" in "\n".join(m.value for m in app.markdown)
    app.text_area(key="live_sql").set_value("SELECT 42")
    app.button(key="live_sql_run").click().run()
    assert ("sql", "SELECT 42") in fake_client.calls
    assert not app.error


def test_top_merchants_are_labelled_by_place_and_the_ids_last_digits() -> None:
    labelled = with_merchant_labels(frame(TOP_MERCHANTS))
    assert labelled["label"].tolist() == ["Monterey Park, CA · …415153", "ONLINE · …166501"]
    assert labelled["merchant"].tolist() == ["-4081055502050415153", "7756457437662166501"]


def test_live_unreachable_api_is_readable(app: AppTest, fake_client: FakeClient) -> None:
    fake_client.failures["sql"] = ApiUnreachableError("cannot reach the API at http://x: Connection refused")
    app.run()
    assert any("unreachable" in e.value for e in app.error)


def test_pipelines_tab_shows_the_overview_and_each_pipelines_conditions(
    app: AppTest, fake_client: FakeClient
) -> None:
    del fake_client.failures["pipelines"]
    app.run()
    assert not app.exception
    assert _tab_labels(app) == ["Score", "Agent", "Live", "Pipelines"]
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Pipelines"] == "2"
    assert metrics["Ready"] == "1 / 2"
    assert metrics["Spec not yet reconciled"] == "1"
    overview = next(d.value for d in app.dataframe if "Namespace" in d.value.columns)
    assert overview[["Name", "Ready", "Reason", "Topics", "Tables", "Reconciled"]].values.tolist() == [
        ["atm", "Not ready", "ConnectorNotRunning", "4/4", "13/13", "2 / 3"],
        ["cards", "Ready", "Reconciled", "", "", "1 / 1"],
    ]
    expanders = {e.label: e for e in app.expander}
    assert set(expanders) == {
        "**fraud/atm** — :red[Not ready (ConnectorNotRunning)]",
        "**fraud/cards** — :green[Ready]",
    }
    atm = expanders["**fraud/atm** — :red[Not ready (ConnectorNotRunning)]"]
    (conditions,) = (t.value for t in atm.table)
    assert conditions.values.tolist() == [
        ["Ready", "False", "ConnectorNotRunning", "task 0 FAILED", "2026-12-01 10:02:13 UTC"],
        ["TopicsReady", "True", "TopicsReady", "4/4 topics ready", ""],
    ]
    assert "not reconciled the latest spec yet (generation 2 / 3)" in "\n".join(c.value for c in atm.caption)
    assert "badge[Not ready]" in "\n".join(m.value for m in atm.markdown)


def test_pipelines_tab_says_when_there_are_none(app: AppTest, fake_client: FakeClient) -> None:
    del fake_client.failures["pipelines"]
    fake_client.pipeline_list = []
    app.run()
    assert _tab_labels(app) == ["Score", "Agent", "Live", "Pipelines"]
    assert "No FraudPipeline resources in the cluster yet" in "\n".join(i.value for i in app.info)


def test_pipelines_tab_shows_kubernetes_trouble_readably(app: AppTest, fake_client: FakeClient) -> None:
    fake_client.failures["pipelines"] = ApiError(
        502,
        "kubernetes_error",
        "the Kubernetes API at https://k8s refused listing FraudPipelines (403 Forbidden)",
    )
    app.run()
    assert not app.exception
    assert _tab_labels(app) == ["Score", "Agent", "Live", "Pipelines"]
    assert any(
        "The API answered 502 (kubernetes_error)" in e.value and "403 Forbidden" in e.value for e in app.error
    )


def test_a_pipeline_never_reconciled_is_pending(app: AppTest, fake_client: FakeClient) -> None:
    del fake_client.failures["pipelines"]
    fake_client.pipeline_list = [pipeline("banking", "loans", generation=1)]
    app.run()
    (expander,) = app.expander
    assert expander.label == "**banking/loans** — :orange[Pending]"
    assert [c.value for c in expander.caption] == [
        "No conditions yet: the operator has not reconciled this pipeline."
    ]
