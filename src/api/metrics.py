"""Prometheus metrics of one app instance (its own registry, so tests can build many apps)."""

from __future__ import annotations

from typing import Any, get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from fraudlake.scoring.models import Decision

# Scoring is sub-millisecond to a few ms; the HTTP overhead is similar: buckets resolve that range.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class ApiMetrics:
    """The service's metrics; `exposition()` renders them for `/metrics`."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._children: dict[tuple[Any, tuple[str, ...]], Any] = {}
        self.request_seconds = Histogram(
            "fraudlake_api_request_duration_seconds",
            "HTTP request latency by route template and status.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.scores = Counter(
            "fraudlake_api_scores_total",
            "Scored transactions by decision.",
            ["decision"],
            registry=self.registry,
        )
        # Every decision's series exists from the start, at 0: a series born at its first increment starts
        # at that value, and rate()/increase() would miss the first burst of scores.
        for decision in get_args(Decision):
            self._child(self.scores, decision)
        self.rules_fired = Counter(
            "fraudlake_api_rules_fired_total",
            "Window rules that fired, by rule.",
            ["rule"],
            registry=self.registry,
        )
        self.model_info = Info(
            "fraudlake_api_model", "The model version being served.", registry=self.registry
        )
        self.model_loaded = Gauge(
            "fraudlake_api_model_loaded", "1 when a model is loaded.", registry=self.registry
        )
        self.model_reloads = Counter(
            "fraudlake_api_model_reloads_total",
            "Model loads by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.sink_dropped = Counter(
            "fraudlake_api_sink_dropped_total",
            "Scores not written because a sink queue was full.",
            ["sink"],
            registry=self.registry,
        )
        self.state_transactions = Counter(
            "fraudlake_api_state_transactions_total",
            "Transactions added to the online feature state, by source.",
            ["source"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "fraudlake_api_rate_limited_total",
            "Requests refused with 429 by the per-API-key rate limits, by route group.",
            ["group"],
            registry=self.registry,
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self._child(self.request_seconds, method, route, str(status)).observe(seconds)

    def inc(self, counter: Counter, *labels: str) -> None:
        """Count one event under `labels` (of the request path's counters: scores, rules fired)."""
        self._child(counter, *labels).inc()

    def _child(self, metric: Any, *labels: str) -> Any:
        # Each labelled child is looked up once: `labels()` validates, locks and hashes on every call,
        # a measurable share of a sub-millisecond request.
        key = (metric, labels)
        if (child := self._children.get(key)) is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def model_changed(self, version: str) -> None:
        self.model_info.info({"version": version})
        self.model_loaded.set(1)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
