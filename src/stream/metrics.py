"""Prometheus metrics of one scorer process (its own registry, so tests can build many scorers)."""

from __future__ import annotations

from typing import get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from fraudlake.scoring.models import Decision

# Produce → decided: a few ms when keeping up, up to the commit interval when reading a backlog.
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ScorerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.decisions = Counter(
            "fraudlake_scorer_decisions_total",
            "Decisions made, by class.",
            ["decision"],
            registry=self.registry,
        )
        # Each decision's series from the start, at 0: rate() then sees the first decisions too.
        for decision in get_args(Decision):
            self.decisions.labels(decision)
        self.shadow_decisions = Counter(
            "fraudlake_scorer_shadow_decisions_total",
            "What the challenger scored in shadow would have decided, by class (never acted on).",
            ["decision"],
            registry=self.registry,
        )
        self.alerts = Counter("fraudlake_scorer_alerts_total", "Alerts raised.", registry=self.registry)
        self.dead_letters = Counter(
            "fraudlake_scorer_dead_letters_total",
            "Messages sent to the dead-letter topic, by kind of problem.",
            ["kind"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "fraudlake_scorer_end_to_end_seconds",
            "Input message's Kafka timestamp to its decision.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "fraudlake_scorer_checkpoint_messages",
            "Messages per committed Kafka transaction (checkpoint).",
            buckets=(1, 10, 100, 1_000, 10_000, 100_000),
            registry=self.registry,
        )
        self.consumer_lag = Gauge(
            "fraudlake_scorer_consumer_lag",
            "Messages behind the end of the transactions topic, per assigned partition.",
            ["partition"],
            registry=self.registry,
        )
        self.stopped_cards = Gauge(
            "fraudlake_scorer_stopped_cards",
            "Cards the bank has stopped (blocked, replaced, closed) as read from its CDC topic.",
            registry=self.registry,
        )
        self.loader_failing = Gauge(
            "fraudlake_scorer_loader_failing",
            "1 while a ClickHouse loader's last batch failed (it retries from its committed offsets).",
            ["loader"],
            registry=self.registry,
        )
        self.model_info = Gauge(
            "fraudlake_scorer_model",
            "1 for the model version being served.",
            ["version"],
            registry=self.registry,
        )
