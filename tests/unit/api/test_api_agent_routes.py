"""The agent's routes (chat, SQL, notifications) without the agent's stores: the agent is made once from
the API's settings and scores with the served model; its failures become the API's typed errors.

Against ClickHouse and ChromaDB they are tested in tests/integration/test_agent.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from api_kit import AUTH, registry_with, wait_for_model
from clickhouse_connect.driver.exceptions import DatabaseError
from fastapi import FastAPI
from fastapi.testclient import TestClient

from fraudlake.agent.notification import AlertNotFoundError
from fraudlake.agent.service import AgentUnavailableError
from fraudlake.agent.sql_guard import SqlRejectedError

pytestmark = pytest.mark.unit


class FailingAgent:
    """An agent whose every entry point raises `failure`."""

    def __init__(self, failure: Exception):
        self.failure = failure

    async def chat(self, message: str, session_id: str | None = None) -> Any:
        raise self.failure

    def run_sql(self, sql: str) -> Any:
        raise self.failure

    def notification(self, alert_id: str) -> Any:
        raise self.failure


@pytest.fixture
def serve(make_app: Callable[..., FastAPI]) -> Iterator[Callable[..., tuple[FastAPI, TestClient]]]:
    """`serve(agent, registry)`: an app and its client with that agent (None: the app makes its own)."""
    clients: list[TestClient] = []

    def start(agent: Any = None, registry: Any = None) -> tuple[FastAPI, TestClient]:
        app = make_app(registry, startup_model_wait_seconds=0)
        app.state.services.agent = agent
        clients.append(TestClient(app).__enter__())
        return app, clients[-1]

    yield start
    for client in clients:
        client.__exit__(None, None, None)


def test_the_agent_is_made_once_from_the_api_s_settings_and_says_what_it_lacks(serve) -> None:
    app, client = serve()
    response = client.post("/v1/sql", json={"sql": "SELECT 1"}, headers=AUTH)
    assert response.status_code == 503
    assert response.json()["error"] == "agent_unavailable"
    assert "FRAUDLAKE_CLICKHOUSE_DSN" in response.json()["message"]
    services = app.state.services
    assert services.agent.settings is services.settings
    assert services.agent_service() is services.agent


@pytest.mark.parametrize(
    ("failure", "status", "code", "says"),
    [
        (SqlRejectedError("only SELECT is allowed"), 400, "sql_rejected", "query refused: only SELECT"),
        (DatabaseError("Code: 47. Unknown identifier nope\nstack…"), 400, "sql_failed", "Unknown identifier"),
        (AgentUnavailableError("set FRAUDLAKE_CLICKHOUSE_DSN"), 503, "agent_unavailable", "CLICKHOUSE_DSN"),
    ],
)
def test_sql_failures_are_typed_errors(serve, failure: Exception, status: int, code: str, says: str) -> None:
    _, client = serve(FailingAgent(failure))
    response = client.post("/v1/sql", json={"sql": "SELECT 1"}, headers=AUTH)
    assert (response.status_code, response.json()["error"]) == (status, code)
    assert says in response.json()["message"]
    assert "stack…" not in response.json()["message"]  # ClickHouse's first line only


def test_a_missing_alert_is_404_and_an_unconfigured_agent_503(serve) -> None:
    _, missing = serve(FailingAgent(AlertNotFoundError("no alert al_nope")))
    response = missing.post("/v1/alerts/al_nope/notification", headers=AUTH)
    assert (response.status_code, response.json()["message"]) == (404, "no alert al_nope")
    _, unconfigured = serve(FailingAgent(AgentUnavailableError("set FRAUDLAKE_CLICKHOUSE_DSN")))
    response = unconfigured.post("/v1/agent/chat", json={"message": "hi"}, headers=AUTH)
    assert (response.status_code, response.json()["error"]) == (503, "agent_unavailable")
    assert response.headers["retry-after"] == "60"


def test_the_agent_scores_with_the_served_model(
    serve, model_files: dict[str, bytes], transactions: list[dict[str, Any]]
) -> None:
    app, _ = serve(registry=registry_with(model_files))
    wait_for_model(app)
    services = app.state.services
    scored = services.score_record(transactions[0] | {"merchant_city": "ONLINE", "label": "ignored"})
    assert scored["txn_id"] == transactions[0]["txn_id"]
    assert scored["model_version"] == services.watcher.current.version
    assert scored["decision"] in {"approve", "review", "decline"}


def test_the_agent_s_score_tool_waits_for_a_model(serve) -> None:
    app, _ = serve()
    with pytest.raises(LookupError, match="no model is loaded yet"):
        app.state.services.score_record({})


def test_openapi_documents_each_route_s_typed_errors(serve) -> None:
    _, client = serve()
    paths = client.get("/openapi.json").json()["paths"]
    sql = paths["/v1/sql"]["post"]["responses"]
    assert {"400", "401", "422", "503"} <= set(sql)
    assert "SQL guard refused" in sql["400"]["description"]
    assert "ClickHouse refused" in sql["400"]["description"]
    assert "not configured" in sql["503"]["description"]
    assert "404" in paths["/v1/alerts/{alert_id}/notification"]["post"]["responses"]
