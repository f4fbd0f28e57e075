"""The Live tab's throughput, lag and alert-rate charts from Prometheus' HTTP API; a plain message when no
Prometheus is configured or it does not answer."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pandas as pd
import pytest
from conftest import FakeClient
from streamlit.testing.v1 import AppTest

from fraudlake.ui import deps
from fraudlake.ui.prometheus import (
    LIVE_CHARTS,
    PROMETHEUS_URL_ENV,
    Chart,
    PrometheusClient,
    PrometheusError,
    client_from_env,
)

pytestmark = pytest.mark.unit

MATRIX = {
    "status": "success",
    "data": {
        "resultType": "matrix",
        "result": [{"metric": {}, "values": [[1764950400, "2.5"], [1764950405, "3"]]}],
    },
}


def _client(handler) -> PrometheusClient:
    return PrometheusClient("http://prom:9090/", transport=httpx.MockTransport(handler))


def test_range_query_reads_the_matrix_as_time_and_value() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=MATRIX)

    data = _client(handler).range("sum(rate(x[1m]))", minutes=15, step_seconds=5)
    assert data["value"].tolist() == [2.5, 3.0]
    assert data["time"].iloc[0] == pd.Timestamp("2025-12-05T16:00:00Z")
    (request,) = seen
    assert request.url.path == "/api/v1/query_range"
    params = request.url.params
    assert params["query"] == "sum(rate(x[1m]))"
    assert params["step"] == "5"
    assert float(params["end"]) - float(params["start"]) == pytest.approx(900)


def test_no_series_is_an_empty_frame_not_an_error() -> None:
    empty = {"status": "success", "data": {"resultType": "matrix", "result": []}}
    data = _client(lambda r: httpx.Response(200, json=empty)).range("up")
    assert data.empty
    assert list(data.columns) == ["time", "value"]


def test_prometheus_errors_are_one_readable_exception() -> None:
    bad = {"status": "error", "errorType": "bad_data", "error": "parse error at char 5"}
    with pytest.raises(PrometheusError, match="answered 400: parse error at char 5"):
        _client(lambda r: httpx.Response(400, json=bad)).range("sum(")

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused")

    with pytest.raises(PrometheusError, match="cannot reach Prometheus at http://prom:9090/"):
        _client(refuse).range("up")


def test_the_charts_are_throughput_lag_and_alert_rate_of_the_services_metrics() -> None:
    promql = {chart.title: " ".join(s.promql for s in chart.series) for chart in LIVE_CHARTS}
    assert set(promql) == {"Throughput", "Consumer lag", "Alert rate"}
    assert "fraudlake_scorer_decisions_total" in promql["Throughput"]
    assert "fraudlake_api_scores_total" in promql["Throughput"]
    assert "fraudlake_scorer_consumer_lag" in promql["Consumer lag"]
    assert "fraudlake_scorer_alerts_total" in promql["Alert rate"]


def test_the_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PROMETHEUS_URL_ENV, raising=False)
    assert client_from_env() is None
    monkeypatch.setenv(PROMETHEUS_URL_ENV, "http://127.0.0.1:9090")
    client = client_from_env()
    assert client is not None
    assert client.url == "http://127.0.0.1:9090"


class FakePrometheus:
    def __init__(self, error: PrometheusError | None = None, empty: bool = False) -> None:
        self.error, self.empty = error, empty
        self.charts: list[str] = []

    def chart_frame(self, chart: Chart, minutes: int = 15) -> pd.DataFrame:
        self.charts.append(chart.title)
        if self.error:
            raise self.error
        if self.empty:
            return pd.DataFrame(columns=["time", "value", "series"])
        times = pd.date_range("2026-12-05T10:00Z", periods=3, freq="5s")
        return pd.DataFrame({"time": times, "value": [1.0, 2.0, 3.0], "series": chart.series[0].label})


@pytest.fixture
def prometheus_source() -> Iterator[list[FakePrometheus | None]]:
    """Set `[0]` to what deps.get_prometheus() returns in the app run."""
    source: list[FakePrometheus | None] = [None]
    original = deps.prometheus_factory
    deps.prometheus_factory = lambda: source[0]
    yield source
    deps.prometheus_factory = original


def _live_text(app: AppTest) -> str:
    return "\n".join(
        [*(i.value for i in app.info), *(w.value for w in app.warning), *(c.value for c in app.caption)]
    )


def test_without_prometheus_the_tab_says_how_to_configure_it(
    app: AppTest, fake_client: FakeClient, prometheus_source: list[FakePrometheus | None]
) -> None:
    app.run()
    assert not app.exception
    assert f"No Prometheus is configured: set {PROMETHEUS_URL_ENV}" in _live_text(app)
    # The SQL panels' own message stays: the two sources are independent.
    assert "Live data is not available from this API" in _live_text(app)


def test_charts_are_drawn_from_prometheus(
    app: AppTest, fake_client: FakeClient, prometheus_source: list[FakePrometheus | None]
) -> None:
    fake = prometheus_source[0] = FakePrometheus()
    app.run()
    assert not app.exception
    assert fake.charts == [chart.title for chart in LIVE_CHARTS]
    markdown = "\n".join(m.value for m in app.markdown)
    assert "Throughput, lag and alert rate" in markdown
    for chart in LIVE_CHARTS:
        assert f"**{chart.title}** ({chart.unit})" in markdown
    live = next(tab for tab in app.tabs if tab.label == "Live")
    assert len(live.get("vega_lite_chart")) == len(LIVE_CHARTS)
    assert "No Prometheus is configured" not in _live_text(app)


def test_no_samples_and_an_unreachable_prometheus_are_said_plainly(
    app: AppTest, fake_client: FakeClient, prometheus_source: list[FakePrometheus | None]
) -> None:
    prometheus_source[0] = FakePrometheus(empty=True)
    app.run()
    assert "No samples in this window yet" in _live_text(app)
    prometheus_source[0] = FakePrometheus(PrometheusError("cannot reach Prometheus at http://p: refused"))
    app.run()
    assert not app.exception
    assert "cannot reach Prometheus at http://p" in _live_text(app)
