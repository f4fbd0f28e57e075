"""POST /v1/rules/backtest without ClickHouse: the request's checks, the route's auth, the answer's
shape from a runner's result (a stand-in for the history), and 503 without a DSN."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from fastapi.testclient import TestClient

from fraudlake.api.main import create_app
from fraudlake.api.routers.rules import backtest_access
from fraudlake.api.settings import ApiSettings
from fraudlake.ml.registry import MemoryStore, ModelRegistry
from fraudlake.pipeline.spec import Rule
from fraudlake.rule_backtest import runner

T = TypeVar("T")
KEY = "unit-rule-backtest-key-77d2"
AUTH = {"X-API-Key": KEY}
START, END = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
BURST = {"name": "burst", "type": "SpendBurst", "windowMinutes": 10, "minCount": 2}
FAST = {"name": "fast", "type": "Velocity", "windowMinutes": 5, "minCount": 11}


class FakeHistory:
    """Records the runner's call instead of reaching ClickHouse."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    async def run(self, work: Callable[[Any, str], T]) -> T:
        return work(self, "fraud")


def _result(candidate: list[Rule], current: list[Rule] | None) -> runner.Backtest:
    outcome = runner.Outcome.of(alerts=4, caught=3, frauds=5)
    as_set = runner.SetOutcome([runner.RuleOutcome(r, outcome) for r in candidate], outcome)
    cur = runner.SetOutcome([runner.RuleOutcome(r, outcome) for r in current], outcome) if current else None
    change = runner.Change(0, 0, 0, 1, 1, 1, 0) if current else None
    return runner.Backtest(START, END, 100, 5, 2, 1, as_set, cur, change)


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, FakeHistory]]:
    history = FakeHistory()

    def fake_backtest(client: Any, database: str, candidate: list[Rule], start: datetime, end: datetime,
                      current: list[Rule] | None = None) -> runner.Backtest:  # fmt: skip
        history.calls.append((database, candidate, start, end, current))
        return _result(candidate, current)

    monkeypatch.setattr(runner, "backtest", fake_backtest)
    settings = ApiSettings(
        api_keys=KEY, model_poll_seconds=3600, startup_model_wait_seconds=0, cold_start_max_rows=0
    )
    app = create_app(settings, ModelRegistry(MemoryStore(), "models"))
    app.dependency_overrides[backtest_access] = lambda: history
    with TestClient(app) as client:
        yield client, history


def _body(**changes: Any) -> dict[str, Any]:
    return {"start": "2026-01-01T00:00:00Z", "end": "2026-02-01T00:00:00Z", "rules": [BURST]} | changes


def test_the_runners_result_as_the_answer(api: tuple[TestClient, FakeHistory]) -> None:
    client, history = api
    answer = client.post(
        "/v1/rules/backtest", json=_body(rules=[BURST, FAST], current_rules=[FAST]), headers=AUTH
    )
    assert answer.status_code == 200, answer.text
    report = answer.json()
    database, candidate, start, end, current = history.calls[0]
    assert (database, [r.name for r in candidate], [r.name for r in current]) == (
        "fraud",
        ["burst", "fast"],
        ["fast"],
    )
    assert (start, end) == (START, END)
    assert report["candidate"]["rules"][0]["rule"] == BURST | {"enabled": True}
    assert report["candidate"]["total"] == {
        "alerts": 4, "frauds_caught": 3, "false_alarms": 1, "frauds_missed": 2,
        "precision": 0.75, "recall": 0.6,
    }  # fmt: skip
    assert report["change"]["added_alerts"] == 1
    alone = client.post("/v1/rules/backtest", json=_body(), headers=AUTH).json()
    assert (alone["current"], alone["change"]) == (None, None)


@pytest.mark.parametrize(
    "changes",
    [
        {"end": "2026-01-01T00:00:00Z"},  # empty range
        {"end": "2027-06-01T00:00:00Z"},  # over a year
        {"start": "2026-01-01T00:00:00"},  # no time zone
        {"rules": []},
        {"rules": [BURST, BURST]},  # a name twice
        {"rules": [BURST | {"windowMinutes": 0}]},
        {"rules": [BURST | {"type": "Geo"}]},
    ],
)
def test_bad_requests_are_422(api: tuple[TestClient, FakeHistory], changes: dict[str, Any]) -> None:
    client, history = api
    answer = client.post("/v1/rules/backtest", json=_body(**changes), headers=AUTH)
    assert answer.status_code == 422, answer.text
    assert not history.calls


def test_the_route_needs_the_api_key(api: tuple[TestClient, FakeHistory]) -> None:
    client, _ = api
    assert client.post("/v1/rules/backtest", json=_body()).status_code == 401


def test_without_clickhouse_503() -> None:
    settings = ApiSettings(
        api_keys=KEY, model_poll_seconds=3600, startup_model_wait_seconds=0, cold_start_max_rows=0
    )
    with TestClient(create_app(settings, ModelRegistry(MemoryStore(), "models"))) as client:
        answer = client.post("/v1/rules/backtest", json=_body(), headers=AUTH)
    assert answer.status_code == 503
    assert answer.json()["error"] == "backtest_unavailable"
