"""The console's API-call metrics move with each call: by route template and status, also when the API
does not answer, and are served over HTTP when the chart sets the port."""

from __future__ import annotations

import urllib.request

import httpx
import pytest
from prometheus_client import generate_latest

from fraudlake.ui import metrics
from fraudlake.ui.client import ApiError, ApiUnreachableError, FraudlakeClient

pytestmark = pytest.mark.unit


def client(handler, calls: metrics.ApiCallMetrics) -> FraudlakeClient:
    return FraudlakeClient("http://api", "k" * 20, transport=httpx.MockTransport(handler), metrics=calls)


def count(calls: metrics.ApiCallMetrics, method: str, route: str, status: str) -> float:
    labels = {"method": method, "route": route, "status": status}
    return calls.registry.get_sample_value("fraudlake_ui_api_request_duration_seconds_count", labels) or 0.0


def test_each_call_is_counted_by_route_and_status() -> None:
    calls = metrics.ApiCallMetrics()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/healthz":
            return httpx.Response(200, json={"status": "ok"})
        body = {"error": "internal", "message": "boom", "request_id": "r1"}
        return httpx.Response(500, json=body)

    api = client(handler, calls)
    assert api.health()
    assert api.health()
    with pytest.raises(ApiError):
        api.sql("SELECT 1")
    assert count(calls, "GET", "/healthz", "200") == 2
    assert count(calls, "POST", "/v1/sql", "500") == 1


def test_a_path_with_an_id_is_counted_under_its_template() -> None:
    calls = metrics.ApiCallMetrics()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"error": "not_found", "message": "alert a-17 not found"})

    with pytest.raises(ApiError):
        client(handler, calls).draft_notification("a-17")
    assert count(calls, "POST", "/v1/alerts/{alert_id}/notification", "404") == 1
    assert "a-17" not in generate_latest(calls.registry).decode()


def test_calls_without_an_answer_are_counted_too() -> None:
    calls = metrics.ApiCallMetrics()

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(ApiUnreachableError):
        client(refused, calls).model()
    with pytest.raises(ApiUnreachableError):
        client(slow, calls).model()
    assert count(calls, "GET", "/v1/model", metrics.UNREACHABLE) == 1
    assert count(calls, "GET", "/v1/model", metrics.TIMEOUT) == 1


def test_metrics_are_served_only_when_the_port_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(metrics.METRICS_PORT_ENV, raising=False)
    assert metrics.serve_from_env() is None
    monkeypatch.setenv(metrics.METRICS_PORT_ENV, "not-a-port")
    with pytest.raises(ValueError, match=metrics.METRICS_PORT_ENV):
        metrics.serve_from_env()
    monkeypatch.setenv(metrics.METRICS_PORT_ENV, "0")
    port = metrics.serve_from_env()
    assert port
    assert metrics.serve_from_env() == port  # a rerun of the page finds the server running
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert "fraudlake_ui_api_request_duration_seconds" in response.read().decode()
