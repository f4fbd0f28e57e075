"""What one API process runs besides request handlers, built from the settings: the model watcher, the
online state, the optional feed and sinks (started and stopped by the app's lifespan), and the parts
made on the first request that needs them (the agent, the FraudPipeline source). Routes get them
through `fraudlake.api.deps`."""

from __future__ import annotations

import gc
import hmac
import logging
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from fastapi import FastAPI

from fraudlake.api.errors import PipelinesUnavailableError
from fraudlake.api.feed import CardStatusFeed, TransactionFeed, cold_start_rows
from fraudlake.api.metrics import ApiMetrics
from fraudlake.api.pipelines import PipelineSource, kube_pipeline_source
from fraudlake.api.ratelimit import RateLimiter
from fraudlake.api.settings import ApiSettings
from fraudlake.api.sinks import (
    BackgroundWriter,
    alert_messages,
    clickhouse_predictions_writer,
    kafka_alerts_writer,
    prediction_rows,
    shadow_prediction_rows,
)
from fraudlake.ml.registry import LocalStore, MinioStore, ModelRegistry
from fraudlake.scoring.bundle import ModelBundle, ModelWatcher
from fraudlake.scoring.card_status import CardStatusBook
from fraudlake.scoring.core import Scored, score_transactions
from fraudlake.scoring.models import TransactionIn
from fraudlake.scoring.state import ServingState

if TYPE_CHECKING:
    from fraudlake.agent.service import AgentService

log = logging.getLogger("fraudlake.api")


class ApiKeys:
    """The accepted keys; comparison is constant-time and checks every key, whichever matches."""

    def __init__(self, keys: list[str]):
        self._keys = [k.encode() for k in keys]
        self._numbers = [keys.index(k) + 1 for k in keys]  # a key listed twice has its first number

    def identify(self, offered: str) -> str | None:
        """`key-<n>` for the n-th configured key (1-based, as FRAUDLAKE_API_KEYS lists them) if `offered`
        is that key, else None: an identity to key rate limits and logs by, which is not the secret."""
        candidate = offered.encode()
        matched = 0
        for number, key in zip(self._numbers, self._keys, strict=True):
            matched |= number * hmac.compare_digest(candidate, key)
        return f"key-{matched}" if matched else None

    def accepts(self, offered: str) -> bool:
        return self.identify(offered) is not None


def model_source(settings: ApiSettings) -> tuple[Callable[[], ModelRegistry], str]:
    """How to open the model registry the settings point at, and its URI for messages."""
    scheme, root, prefix = settings.model_location()
    if scheme == "file":
        return (
            lambda: ModelRegistry(LocalStore(Path(root)), prefix, f"file://{root}")
        ), f"file://{root}/{prefix}"
    store_settings = settings.model_copy(update={"lake_bucket": root})
    return (
        lambda: ModelRegistry(MinioStore(store_settings), prefix, f"s3://{root}")
    ), f"s3://{root}/{prefix}"


class Services:
    """The process's long-lived parts. `state` follows the model: a new state is built when a model with a
    different feature configuration arrives (and warmed from ClickHouse when configured)."""

    def __init__(self, settings: ApiSettings, registry: ModelRegistry | None = None, source: str = "memory"):
        self.settings = settings
        self.metrics = ApiMetrics()
        self.keys = ApiKeys([k.get_secret_value() for k in settings.api_keys])
        # Per-key limits of the agent, SQL and notification routes (tests may swap in their own clock).
        self.rate_limiter = RateLimiter(settings.rate_limits())
        self.state: ServingState | None = None
        self._registry, self._source = registry, source
        self.watcher: ModelWatcher | None = None
        self.challenger: ModelWatcher | None = None  # the registry's challenger, scored in shadow
        self.feed: TransactionFeed | None = None
        # The bank's stopped cards (empty without card_status_topics): declined whatever the score.
        self.card_status = CardStatusBook()
        self.card_status_feed: CardStatusFeed | None = None
        self.sinks: dict[str, BackgroundWriter] = {}
        self._producer: Any = None
        # Made on first use (`agent_service`, `pipeline_source`); tests may put their own in place.
        self.agent: AgentService | None = None
        self.pipelines: PipelineSource | None = None
        # One lock each: the pipelines' waits on Kubernetes (in a worker thread) never hold up the
        # agent's, which is taken on the event loop.
        self._agent_lock, self._pipelines_lock = threading.Lock(), threading.Lock()

    # -- model and state --------------------------------------------------------------------------
    def _on_model(self, bundle: ModelBundle) -> None:
        self.metrics.model_changed(bundle.version)
        self.metrics.model_reloads.labels("loaded").inc()
        config = bundle.model.feature_config
        if self.state is None or self.state.config != config:
            if self.state is not None:
                log.warning("feature configuration changed with the model: starting a new online state")
            state = ServingState(config, self.settings.rules, self.settings.seen_txn_ids)
            self._cold_start(state)
            self.state = state
        if self.feed is None and self.settings.kafka_bootstrap and self.settings.transactions_topic:
            self.feed = TransactionFeed(
                self.settings.kafka_bootstrap,
                self.settings.transactions_topic,
                self._observe_from_topic,
                self.settings.kafka_group_id,
            )
            self.feed.start()

    def _observe_from_topic(self, record: Any) -> None:
        if self.state is not None and self.state.observe(record):
            self.metrics.state_transactions.labels("kafka").inc()

    def _cold_start(self, state: ServingState) -> None:
        settings = self.settings
        if settings.clickhouse_dsn is None or settings.cold_start_max_rows == 0:
            return
        try:
            rows = cold_start_rows(
                settings.clickhouse_dsn.get_secret_value(),
                settings.clickhouse_database,
                state.config.user_norm_window_ms,
                settings.cold_start_max_rows,
            )
        except Exception:
            log.exception("cold start from ClickHouse failed; the state starts empty")
            return
        added = sum(state.observe(row) for row in rows)
        # The warmed history is long-lived: keep the cyclic GC from rescanning it on every full pass
        # (millions of small objects would show up as latency spikes).
        gc.freeze()
        self.metrics.state_transactions.labels("clickhouse").inc(added)
        log.info("cold start from ClickHouse", extra={"transactions": added})

    # -- sinks --------------------------------------------------------------------------------------
    def _start_sinks(self) -> None:
        s = self.settings
        if s.write_predictions and s.clickhouse_dsn is not None:
            write = clickhouse_predictions_writer(s.clickhouse_dsn.get_secret_value(), s.clickhouse_database)
            self.sinks["predictions"] = BackgroundWriter(
                "predictions", write, self.metrics, s.sink_queue_size, s.sink_batch_size
            )
            if s.shadow_challenger:
                # Its own ClickHouse client: the two writers' threads never share one.
                own = clickhouse_predictions_writer(
                    s.clickhouse_dsn.get_secret_value(), s.clickhouse_database
                )
                self.sinks["shadow"] = BackgroundWriter(
                    "shadow", self._shadow_writer(own), self.metrics, s.sink_queue_size, s.sink_batch_size
                )
        if s.kafka_bootstrap and s.alerts_topic:
            write_alerts, self._producer = kafka_alerts_writer(s.kafka_bootstrap, s.alerts_topic)
            self.sinks["alerts"] = BackgroundWriter(
                "alerts", write_alerts, self.metrics, s.sink_queue_size, s.sink_batch_size
            )
        for sink in self.sinks.values():
            sink.start()

    def publish(self, scored: Scored, model_version: str) -> None:
        """Hand results to the configured sinks (never blocks the request)."""
        for result in scored.results:
            self.metrics.inc(self.metrics.scores, result.decision)
            for hit in result.rules_fired:
                self.metrics.inc(self.metrics.rules_fired, hit.rule)
        if "predictions" in self.sinks:
            for row in prediction_rows(scored, model_version):
                self.sinks["predictions"].submit(row)
        if "alerts" in self.sinks:
            for message in alert_messages(scored, model_version):
                self.sinks["alerts"].submit(message)
        challenger = self.challenger.current if self.challenger else None
        if "shadow" in self.sinks and challenger is not None and challenger.version != model_version:
            self.sinks["shadow"].submit(scored)  # scored by the challenger on the writer's thread

    def _shadow_writer(
        self, write_predictions: Callable[[list[Any]], None]
    ) -> Callable[[list[Scored]], None]:
        """Scores requests' transactions with the challenger (from the features the champion used) and
        writes its verdicts as shadow predictions: none of it on a request's path."""

        def write(batch: list[Scored]) -> None:
            challenger = self.challenger.current if self.challenger else None
            if challenger is None:
                return
            rows = [row for scored in batch for row in shadow_prediction_rows(challenger, scored)]
            if rows:
                write_predictions(rows)

        return write

    # -- parts made on first use ----------------------------------------------------------------------
    def agent_service(self) -> AgentService:
        """The process's fraud-analyst agent, made on first use (cheap: its heavy parts load later)."""
        from fraudlake.agent.service import AgentService

        with self._agent_lock:
            if self.agent is None:
                self.agent = AgentService(self.settings, scorer=self.score_record)
            return self.agent

    def pipeline_source(self) -> PipelineSource:
        """The FraudPipelines' source, made on first use. Blocking (imports `kubernetes`, reads the
        credentials): call it off the event loop. PipelinesUnavailableError without a kubeconfig."""
        kubeconfig = self.settings.kubeconfig
        if kubeconfig is None:
            raise PipelinesUnavailableError(
                "this API does not read FraudPipelines: set FRAUDLAKE_KUBECONFIG to `in-cluster` "
                "or a kubeconfig file"
            )
        with self._pipelines_lock:
            if self.pipelines is None:
                self.pipelines = kube_pipeline_source(kubeconfig)
            return self.pipelines

    def score_record(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """The agent's score tool: a transaction record (its other columns ignored) scored by the served
        model and the online state, with the model version. LookupError until a model is loaded."""
        bundle = self.watcher.current if self.watcher else None
        if bundle is None or self.state is None:
            raise LookupError("no model is loaded yet")
        txn = TransactionIn.model_validate(
            {k: v for k, v in record.items() if k in TransactionIn.model_fields}
        )
        (result,) = score_transactions(
            bundle, self.state, [txn], "all", self.settings.reasons, card_status=self.card_status
        ).results
        return result.model_dump() | {"model_version": bundle.version}

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> None:
        if self._registry is not None:
            registry = self._registry
            make_registry, source = (lambda: registry), self._source
        else:
            make_registry, source = model_source(self.settings)
        self.watcher = ModelWatcher(
            make_registry,
            source,
            self.settings.model_poll_seconds,
            self._on_model,
            lambda _: self.metrics.model_reloads.labels("failed").inc(),
        )
        self._start_sinks()
        if "shadow" in self.sinks:
            self.challenger = ModelWatcher(
                make_registry,
                f"{source} (challenger)",
                self.settings.model_poll_seconds,
                pointer=lambda registry: registry.challenger(),
                optional=True,
            )
            self.challenger.start()
        if self.settings.kafka_bootstrap and self.settings.card_status_topics:
            self.card_status_feed = CardStatusFeed(
                self.settings.kafka_bootstrap, self.settings.card_status_topics, self.card_status
            )
            self.card_status_feed.start()
        self.watcher.start()

    def stop(self) -> None:
        for watcher in (self.watcher, self.challenger):
            if watcher is not None:
                watcher.stop()
        for feed in (self.feed, self.card_status_feed):
            if feed is not None:
                feed.stop()
        for sink in self.sinks.values():
            sink.stop()

    @asynccontextmanager
    async def lifespan(self, _: FastAPI) -> AsyncIterator[None]:
        self.start()
        watcher = self.watcher
        assert watcher is not None
        # Serving before the first model only produces 503s; a short wait avoids them at a normal start.
        await anyio.to_thread.run_sync(watcher.wait_loaded, self.settings.startup_model_wait_seconds)
        try:
            yield
        finally:
            self.stop()
