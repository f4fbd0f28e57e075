"""Range queries against a Prometheus HTTP API, for the Live tab's throughput, lag and alert-rate charts.

Where Prometheus is comes from FRAUDLAKE_PROMETHEUS_URL (the local stack sets it for the demo's console);
unset, the charts say so instead of showing nothing. Only `/api/v1/query_range` is read: the local
Prometheus is built without its own web UI, and a managed one (Amazon Managed Prometheus behind a
proxy, a Prometheus Operator's) answers the same API.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import httpx
import pandas as pd

PROMETHEUS_URL_ENV = "FRAUDLAKE_PROMETHEUS_URL"


class PrometheusError(Exception):
    """Prometheus did not answer, or answered with an error; `str(err)` says which, readably."""


@dataclass(frozen=True)
class Series:
    """One line of a chart: its legend and the PromQL giving one series."""

    label: str
    promql: str


@dataclass(frozen=True)
class Chart:
    title: str
    unit: str
    series: tuple[Series, ...]


# Rates over 1 minute: a few scrapes of the local 2 s interval, smooth enough for a 15-minute window.
LIVE_CHARTS = (
    Chart(
        "Throughput",
        "transactions / s",
        (
            Series("stream scorer", "sum(rate(fraudlake_scorer_decisions_total[1m]))"),
            Series("scoring API", "sum(rate(fraudlake_api_scores_total[1m]))"),
        ),
    ),
    Chart("Consumer lag", "messages", (Series("stream scorer", "sum(fraudlake_scorer_consumer_lag)"),)),
    Chart(
        "Alert rate", "alerts / s", (Series("stream scorer", "sum(rate(fraudlake_scorer_alerts_total[1m]))"),)
    ),
)


@dataclass
class PrometheusClient:
    url: str
    timeout: float = 10.0
    transport: httpx.BaseTransport | None = field(default=None, repr=False)

    def range(self, promql: str, minutes: int = 15, step_seconds: int = 5) -> pd.DataFrame:
        """`promql` over the last `minutes`, as rows (time, value); empty when it has no series yet."""
        end = time.time()
        params: dict[str, str | float] = {
            "query": promql,
            "start": end - minutes * 60,
            "end": end,
            "step": step_seconds,
        }
        try:
            with httpx.Client(timeout=self.timeout, transport=self.transport) as client:
                response = client.get(f"{self.url.rstrip('/')}/api/v1/query_range", params=params)
        except httpx.HTTPError as exc:
            raise PrometheusError(f"cannot reach Prometheus at {self.url}: {exc}") from exc
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or body.get("status") != "success":
            detail = body.get("error") or response.text[:200]
            raise PrometheusError(f"Prometheus at {self.url} answered {response.status_code}: {detail}")
        rows = [
            (pd.Timestamp(float(t), unit="s", tz="UTC"), float(v))
            for series in body["data"]["result"]
            for t, v in series["values"]
        ]
        return pd.DataFrame(rows, columns=["time", "value"])

    def chart_frame(self, chart: Chart, minutes: int = 15) -> pd.DataFrame:
        """Every series of `chart` over the last `minutes`: rows (time, value, series)."""
        frames = [self.range(s.promql, minutes).assign(series=s.label) for s in chart.series]
        return pd.concat(frames, ignore_index=True)


def client_from_env() -> PrometheusClient | None:
    """The Prometheus of FRAUDLAKE_PROMETHEUS_URL, or None when it is not set."""
    url = os.environ.get(PROMETHEUS_URL_ENV, "").strip()
    return PrometheusClient(url) if url else None
