"""Live and Pipelines tabs: shown from the API when it offers them, a plain message or hidden otherwise."""

from __future__ import annotations

import pytest
from conftest import FakeClient
from streamlit.testing.v1 import AppTest

from fraudlake.ui.client import ApiUnreachableError

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


def test_live_unreachable_api_is_readable(app: AppTest, fake_client: FakeClient) -> None:
    fake_client.failures["sql"] = ApiUnreachableError("cannot reach the API at http://x: Connection refused")
    app.run()
    assert any("unreachable" in e.value for e in app.error)


def test_pipelines_tab_shows_conditions_when_offered(app: AppTest, fake_client: FakeClient) -> None:
    del fake_client.failures["pipelines"]
    app.run()
    assert not app.exception
    assert _tab_labels(app) == ["Score", "Agent", "Live", "Pipelines"]
    markdown = "\n".join(m.value for m in app.markdown)
    assert "cards" in markdown
    assert "badge[Ready]" in markdown
