"""Per-API-key rate limits of the agent, SQL and notification routes: the (burst + 1)-th call is a 429
with `Retry-After` and the common error body, other keys and other route groups are unaffected, time
refills the bucket (an injected clock: no sleeps), the scoring routes are never limited, and the settings
refuse non-positive rates."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from api_kit import API_KEY, AUTH, OTHER_KEY, api_settings, registry_with, wait_for_model
from fastapi import FastAPI
from fastapi.testclient import TestClient

from fraudlake.api.ratelimit import AGENT, NOTIFICATION, SQL, Rate, RateLimiter
from fraudlake.api.runtime import ApiKeys
from fraudlake.api.settings import SettingsError, load_settings

pytestmark = pytest.mark.unit

OTHER_AUTH = {"X-API-Key": OTHER_KEY}


class FakeClock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class CountingAgent:
    """An agent that answers every route at once and counts the calls that reached it."""

    def __init__(self) -> None:
        self.calls = 0

    async def chat(self, message: str, session_id: str | None = None) -> Any:
        self.calls += 1
        citations = SimpleNamespace(as_dict=lambda: {"documents": [], "sql": [], "scores": []})
        return SimpleNamespace(
            session_id="s1", answer="ok", offline=True, provider="offline", citations=citations, notes=[]
        )

    def run_sql(self, sql: str) -> Any:
        self.calls += 1
        return SimpleNamespace(sql=sql, columns=["n"], rows=[[1]], truncated=False)

    def notification(self, alert_id: str) -> Any:
        self.calls += 1
        return SimpleNamespace(
            alert_id=alert_id, subject="s", body="b", offline=True, provider="offline", sql=[], notes=[]
        )


CALLS: dict[str, Callable[[TestClient, dict[str, str]], Any]] = {
    AGENT: lambda client, headers: client.post("/v1/agent/chat", json={"message": "hi"}, headers=headers),
    SQL: lambda client, headers: client.post("/v1/sql", json={"sql": "SELECT 1"}, headers=headers),
    NOTIFICATION: lambda client, headers: client.post("/v1/alerts/al_1/notification", headers=headers),
}


@pytest.fixture
def limited(
    make_app: Callable[..., FastAPI],
) -> Iterator[Callable[..., tuple[TestClient, FakeClock, CountingAgent]]]:
    """`limited(**settings)`: a client of an app with those settings, a counting agent and a fake clock."""
    clients: list[TestClient] = []

    def start(registry: Any = None, **settings: Any) -> tuple[TestClient, FakeClock, CountingAgent]:
        app = make_app(registry, startup_model_wait_seconds=0, **settings)
        clock, agent = FakeClock(), CountingAgent()
        app.state.services.agent = agent
        app.state.services.rate_limiter.clock = clock
        clients.append(TestClient(app).__enter__())
        return clients[-1], clock, agent

    yield start
    for client in clients:
        client.__exit__(None, None, None)


def _burst_of(group: str, burst: int, per_minute: float) -> dict[str, Any]:
    return {f"rate_limit_{group}_per_minute": per_minute, f"rate_limit_{group}_burst": burst}


@pytest.mark.parametrize("group", [AGENT, SQL, NOTIFICATION])
def test_the_call_after_the_burst_is_429_with_retry_after_until_the_clock_refills(limited, group) -> None:
    # 6 a minute: one token every 10 s.
    client, clock, agent = limited(**_burst_of(group, 3, 6))
    call = CALLS[group]
    assert [call(client, AUTH).status_code for _ in range(3)] == [200, 200, 200]

    refused = call(client, AUTH)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "10"
    body = refused.json()
    assert body["error"] == "rate_limited"
    assert body["request_id"] == refused.headers["x-request-id"]
    assert "retry in 10 s" in body["message"]
    assert agent.calls == 3  # the refused call never reached the agent

    clock.advance(4)
    assert call(client, AUTH).headers["retry-after"] == "6"  # computed from the bucket, not fixed
    clock.advance(6)
    assert call(client, AUTH).status_code == 200
    assert call(client, AUTH).status_code == 429


@pytest.mark.parametrize("group", [AGENT, SQL, NOTIFICATION])
def test_another_key_has_its_own_bucket(limited, group: str) -> None:
    client, _, _ = limited(**_burst_of(group, 2, 1))
    call = CALLS[group]
    assert [call(client, AUTH).status_code for _ in range(3)] == [200, 200, 429]
    assert [call(client, OTHER_AUTH).status_code for _ in range(3)] == [200, 200, 429]
    # The key works as a bearer token too: same key, same bucket.
    assert call(client, {"Authorization": f"Bearer {API_KEY}"}).status_code == 429


def test_route_groups_have_separate_buckets(limited) -> None:
    client, _, _ = limited(**_burst_of(SQL, 1, 1))
    assert CALLS[SQL](client, AUTH).status_code == 200
    assert CALLS[SQL](client, AUTH).status_code == 429
    assert CALLS[AGENT](client, AUTH).status_code == 200
    assert CALLS[NOTIFICATION](client, AUTH).status_code == 200


def test_unauthenticated_calls_are_401_and_spend_no_token(limited) -> None:
    client, _, _ = limited(**_burst_of(SQL, 1, 1))
    for _ in range(3):
        assert CALLS[SQL](client, {}).status_code == 401
        assert CALLS[SQL](client, {"X-API-Key": "not-a-configured-key-123"}).status_code == 401
    assert CALLS[SQL](client, AUTH).status_code == 200


def test_rejections_are_counted_in_the_metrics(limited) -> None:
    client, _, _ = limited(**_burst_of(SQL, 1, 1))
    for _ in range(3):
        CALLS[SQL](client, AUTH)
    metrics = client.get("/metrics").text
    assert 'fraudlake_api_rate_limited_total{group="sql"} 2.0' in metrics


def test_the_scoring_routes_are_never_limited(
    limited, model_files: dict[str, bytes], transactions: list[dict[str, Any]]
) -> None:
    tightest = {f"rate_limit_{g}_{k}": 1 for g in (AGENT, SQL, NOTIFICATION) for k in ("per_minute", "burst")}
    client, _, _ = limited(registry_with(model_files), **tightest)
    wait_for_model(client.app)
    statuses = {client.post("/v1/score", json=txn, headers=AUTH).status_code for txn in transactions[:20]}
    batch = client.post("/v1/score/batch", json={"transactions": transactions[20:25]}, headers=AUTH)
    assert statuses == {200}
    assert batch.status_code == 200
    assert client.get("/v1/model", headers=AUTH).status_code == 200


def test_openapi_documents_the_429_on_the_limited_routes_only(limited) -> None:
    client, _, _ = limited()
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/v1/agent/chat", "/v1/sql", "/v1/alerts/{alert_id}/notification"):
        assert "Retry-After" in paths[path]["post"]["responses"]["429"]["description"]
    assert "429" not in paths["/v1/score"]["post"]["responses"]
    assert "429" not in paths["/v1/score/batch"]["post"]["responses"]


def test_the_defaults_limit_each_group() -> None:
    rates = api_settings().rate_limits()
    assert set(rates) == {AGENT, SQL, NOTIFICATION}
    assert all(rate.per_minute > 0 and rate.burst >= 1 for rate in rates.values())


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FRAUDLAKE_RATE_LIMIT_AGENT_PER_MINUTE", "0"),
        ("FRAUDLAKE_RATE_LIMIT_SQL_PER_MINUTE", "-5"),
        ("FRAUDLAKE_RATE_LIMIT_NOTIFICATION_PER_MINUTE", "nan"),
        ("FRAUDLAKE_RATE_LIMIT_AGENT_PER_MINUTE", "inf"),
        ("FRAUDLAKE_RATE_LIMIT_AGENT_BURST", "0"),
        ("FRAUDLAKE_RATE_LIMIT_SQL_BURST", "-1"),
        ("FRAUDLAKE_RATE_LIMIT_NOTIFICATION_BURST", "2.5"),
        ("FRAUDLAKE_RATE_LIMIT_SQL_BURST", "many"),
    ],
)
def test_settings_refuse_rates_that_are_not_positive(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv("FRAUDLAKE_API_KEYS", API_KEY)
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable):
        load_settings()


def test_settings_read_the_rates_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUDLAKE_API_KEYS", API_KEY)
    monkeypatch.setenv("FRAUDLAKE_RATE_LIMIT_SQL_PER_MINUTE", "30")
    monkeypatch.setenv("FRAUDLAKE_RATE_LIMIT_SQL_BURST", "4")
    assert load_settings().rate_limits()[SQL] == Rate(30, 4)


# -- the limiter and the key identities on their own ----------------------------------------------------


def test_a_token_bucket_refills_continuously_up_to_its_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter({SQL: Rate(per_minute=120, burst=2)}, clock=clock)  # a token every 0.5 s
    assert [limiter.acquire(SQL, "key-1") for _ in range(3)] == [None, None, 1]  # ceil(0.5 s)
    clock.advance(0.5)
    assert limiter.acquire(SQL, "key-1") is None
    clock.advance(3600)  # a long pause refills to the burst, no further
    assert [limiter.acquire(SQL, "key-1") for _ in range(3)] == [None, None, 1]
    clock.advance(-100)  # a clock stepping back refills nothing (and breaks nothing)
    assert limiter.acquire(SQL, "key-1") == 1


@pytest.mark.parametrize(("per_minute", "burst"), [(0, 1), (-1, 1), (1, 0), (float("nan"), 1)])
def test_a_rate_must_be_positive(per_minute: float, burst: int) -> None:
    with pytest.raises(ValueError, match="per_minute > 0 and burst >= 1"):
        Rate(per_minute, burst)


def test_key_identities_number_the_configured_keys_and_never_echo_them() -> None:
    keys = ApiKeys([API_KEY, OTHER_KEY, API_KEY])
    assert keys.identify(API_KEY) == "key-1"  # a key listed twice keeps its first number
    assert keys.identify(OTHER_KEY) == "key-2"
    assert keys.identify("unknown-key-0123456789") is None
    assert keys.accepts(OTHER_KEY)
    assert not keys.accepts("")
