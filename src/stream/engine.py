"""The stream scorer as a Quix Streams application that scores in micro-batches, one per checkpoint.

    transactions ──apply(prepare, stateful)──> sink(DecisionSink) ── at each checkpoint, one batch:
                                                  features + one tree-ensemble call ──┬─> decisions
                                                                                      ├─> alerts
                                  unreadable input, with the reason, as it came ──────└─> deadletter

Micro-batches: Quix runs a step per message, but flushes its sinks at every checkpoint *inside* the
checkpoint's Kafka transaction, before the changelogs and the consumed offsets. The per-message step
only decodes the transaction and keeps its card's history in Quix state; the sink collects the
transactions and, when the checkpoint closes, scores them all at once (one model call, vectorised
trees and reasons) and produces their decisions and alerts with the application's transactional
producer. So a checkpoint is both the unit of scoring and the unit of exactly-once.

Exactly once: `processing_guarantee="exactly-once"` makes each checkpoint one Kafka transaction holding
the decisions, alerts, dead letters, the state's changelog records and the consumed offsets. A scorer
killed mid-checkpoint leaves an aborted transaction: read_committed readers never see its records, and
the next owner of the partitions re-reads from the last committed offsets with the state as of then.

Tracing (when configured, fraudlake.common.tracing): one span per batch, linked to the producer span
of each transaction that carried a trace context, and the decisions and alerts carry the batch span's
context on to their consumers.

Card status: the bank's stopped cards (blocked, replaced, closed) come from the CDC topic of its `cards`
table, read by every replica in full like a global table (fraudlake.api.feed.CardStatusFeed). A change
is a side input, not part of the checkpoint: a transaction is declined for its card's status from the
first batch decided after the change reached this process (about a second after the database commit).

State: the online features live in the scoring core's in-memory `ServingState` (the API's code). What
must survive a failover (the card's transactions within the longest rule window) is also kept in Quix
state, per message key (the card: the topic is keyed by card_id), in RocksDB with a changelog topic.
When a process meets a card for the first time (a fresh start, or partitions taken over from a dead
replica) it replays that history into its `ServingState` before scoring, so window rules see
transactions decided by the previous owner.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import TopicPartition
from quixstreams import Application
from quixstreams.context import message_context
from quixstreams.internal_producer import InternalProducer
from quixstreams.sinks import BaseSink
from quixstreams.state import State
from quixstreams.state.rocksdb import RocksDBOptions

from fraudlake.api.sinks import alert_messages
from fraudlake.common import tracing
from fraudlake.ml.features import EVENT_MS, MINUTE_MS
from fraudlake.pipeline.spec import Rule
from fraudlake.scoring.bundle import ModelBundle, ReasonPolicy
from fraudlake.scoring.card_status import CardStatusBook
from fraudlake.scoring.core import Scored, score_records, shadow_scores, state_record
from fraudlake.scoring.state import ServingState
from fraudlake.stream.metrics import ScorerMetrics
from fraudlake.stream.records import (
    BadInputError,
    Shadow,
    dead_letter_record,
    decision_record,
    decode_transaction,
)

log = logging.getLogger("fraudlake.stream")
_HISTORY = "recent"  # the Quix state key of a card's recent transactions


@dataclass(frozen=True)
class ScorerTopics:
    transactions: str
    decisions: str
    alerts: str
    deadletter: str


@dataclass(frozen=True)
class Pending:
    """A decoded transaction waiting for its checkpoint's batch."""

    record: dict[str, Any]  # `state_record` of the transaction: its id (assigned when missing) fixed here
    produced_ms: int  # the input message's Kafka timestamp
    replay: list[dict[str, Any]]  # the card's earlier history, when this process had not seen the card
    partition: int
    offset: int
    trace_headers: Any = None  # the input's headers when tracing is on (its producer's trace context)


@dataclass(frozen=True)
class DeadLetter:
    """A message the scorer cannot read, with the reason."""

    key: str | None  # the input message's
    record: dict[str, Any]
    partition: int
    offset: int


@dataclass(frozen=True)
class Outgoing:
    """What one batch publishes: (key, JSON value) per decision and per alert."""

    decisions: list[tuple[str, bytes]]
    alerts: list[tuple[str, bytes]]


@dataclass
class CardScorer:
    """Decides transactions in batches: `prepare` runs per message, `decide` per checkpoint.

    `decide` reads the current model once per batch, so a hot swap lands between two batches: every
    decision is made by exactly one model version, which it names.
    """

    current_model: Callable[[], ModelBundle | None]
    rules: Sequence[Rule]
    metrics: ScorerMetrics
    reasons: ReasonPolicy = "all"
    top_reasons: int = 5
    state: ServingState | None = None
    card_status: CardStatusBook | None = None  # the bank's stopped cards (CDC), declined whatever the score
    current_challenger: Callable[[], ModelBundle | None] = lambda: None  # scored in shadow when set
    _warm_cards: set[str] = field(default_factory=set)
    _unshadowable: str | None = field(init=False, default=None)  # a challenger already warned about
    history_reach_ms: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        # How far back a card's history must reach for the longest enabled rule window.
        self.history_reach_ms = (
            max((r.window_minutes for r in self.rules if r.enabled), default=0) * MINUTE_MS
        )

    def prepare(
        self, value: bytes | None, key: Any, timestamp: int, headers: Any, store: State
    ) -> Pending | DeadLetter:
        """The per-message step: the transaction for the batch, or its dead-letter record."""
        ctx = message_context()
        try:
            txn = decode_transaction(value)
        except BadInputError as error:
            self.metrics.dead_letters.labels(error.kind).inc()
            return DeadLetter(
                key, dead_letter_record(error, value, ctx.partition, ctx.offset), ctx.partition, ctx.offset
            )
        record = state_record(txn)  # one id for the state, the decision and the alert
        history = store.get(_HISTORY, [])
        replay = []
        if txn.card_id not in self._warm_cards:
            self._warm_cards.add(txn.card_id)
            replay = history
        self._remember(store, history, record)
        traced = headers if headers and tracing.tracing_enabled() else None
        return Pending(record, timestamp, replay, ctx.partition, ctx.offset, traced)

    def decide(self, batch: Sequence[Pending]) -> Outgoing:
        """Score a batch in arrival order (a card's transactions are in one partition, in order)."""
        if not batch:
            return Outgoing([], [])
        bundle = self.current_model()
        if bundle is None:  # the engine starts consuming only once a model is loaded
            raise RuntimeError("no model loaded")
        state = self._state_for(bundle)
        for item in batch:
            for earlier in item.replay:
                state.observe(earlier)  # ids already known to this process are skipped
        scored = score_records(
            bundle,
            state,
            [p.record for p in batch],
            self.reasons,
            self.top_reasons,
            card_status=self.card_status,
        )
        shadows = self._shadow(bundle, scored)
        now = time.time()
        decisions = []
        for i, (item, result, record) in enumerate(zip(batch, scored.results, scored.records, strict=True)):
            body = decision_record(
                result, record, bundle.version, item.produced_ms, shadows[i] if shadows else None
            )
            decisions.append((record["card_id"], json.dumps(body).encode()))
            self.metrics.latency.observe(max(0.0, now - item.produced_ms / 1000))
        for decision, count in scored.decision_counts().items():
            self.metrics.decisions.labels(decision).inc(count)
        alerts = alert_messages(scored, bundle.version)
        self.metrics.alerts.inc(len(alerts))
        self.metrics.batch_size.observe(len(batch))
        return Outgoing(decisions, alerts)

    def _shadow(self, champion: ModelBundle, scored: Scored) -> list[Shadow] | None:
        """The challenger's verdicts on the batch, from the champion's features; None without a challenger
        (or when it is the champion, or reads other features). Recorded only: decisions stay the champion's.
        """
        challenger = self.current_challenger()
        if challenger is None or challenger.version == champion.version:
            return None
        shadow = shadow_scores(challenger, scored)
        if shadow is None:
            if self._unshadowable != challenger.version:
                self._unshadowable = challenger.version
                log.warning(
                    "challenger reads another feature configuration: not scored in shadow",
                    extra={"challenger": challenger.version, "champion": champion.version},
                )
            return None
        for decision, count in Counter(shadow.decisions).items():
            self.metrics.shadow_decisions.labels(decision).inc(count)
        return [
            Shadow(shadow.model_version, score, decision)
            for score, decision in zip(shadow.scores, shadow.decisions, strict=True)
        ]

    def _state_for(self, bundle: ModelBundle) -> ServingState:
        """The online state for the model's feature configuration (a new model may change it)."""
        config = bundle.model.feature_config
        if self.state is None or self.state.config != config:
            if self.state is not None:
                log.warning("feature configuration changed with the model: starting a new online state")
            self.state = ServingState(config, self.rules)
            self._warm_cards.clear()
        return self.state

    def _remember(self, store: State, history: list[dict[str, Any]], record: dict[str, Any]) -> None:
        """Keep the card's transactions within the longest rule window in the changelogged state."""
        reach = self.history_reach_ms
        if not reach:
            return
        horizon = record[EVENT_MS] - reach
        store.set(_HISTORY, [r for r in history if r[EVENT_MS] > horizon] + [record])


class DecisionSink(BaseSink):
    """Collects prepared transactions; at each checkpoint decides them and produces the results into the
    checkpoint's open Kafka transaction (Quix flushes sinks before it commits the offsets)."""

    def __init__(self, scorer: CardScorer, topics: ScorerTopics):
        super().__init__()
        self._scorer, self._topics = scorer, topics
        self._pending: list[Pending | DeadLetter] = []
        self._producer: InternalProducer | None = None
        self._lag: Callable[[dict[int, int]], None] = lambda _: None

    def bind(self, producer: InternalProducer, lag: Callable[[dict[int, int]], None]) -> None:
        self._producer, self._lag = producer, lag

    def add(self, value: Any, *_metadata: Any, **_named: Any) -> None:  # key, timestamp, …: in the value
        self._pending.append(value)

    def flush(self) -> None:
        # Taken first: a batch is published once, even if Quix retries or abandons this flush.
        batch, self._pending = self._pending, []
        if not batch:
            return
        assert self._producer is not None, "bind() the application's producer first"
        for dead in (item for item in batch if isinstance(item, DeadLetter)):
            self._producer.produce(
                self._topics.deadletter, value=json.dumps(dead.record).encode(), key=dead.key
            )
        pending = [item for item in batch if isinstance(item, Pending)]
        with tracing.tracer().start_as_current_span(
            "score batch",
            links=tracing.links_from(p.trace_headers for p in pending if p.trace_headers),
            attributes={"fraudlake.batch_size": len(pending)},
        ):
            out = self._scorer.decide(pending)
            headers = tracing.inject_headers() if tracing.tracing_enabled() else None
            for key, value in out.decisions:
                self._producer.produce(self._topics.decisions, value=value, key=key, headers=headers)
            for key, value in out.alerts:
                self._producer.produce(self._topics.alerts, value=value, key=key, headers=headers)
        self._lag({item.partition: item.offset for item in batch})  # the last offset per partition

    def on_paused(self) -> None:
        self._pending = []  # the checkpoint is abandoned; Quix seeks back and these come again


def build_application(
    bootstrap: str,
    consumer_group: str,
    topics: ScorerTopics,
    scorer: CardScorer,
    state_dir: str,
    commit_interval: float = 0.1,
    commit_every: int = 1000,
    auto_offset_reset: str = "earliest",
    session_timeout_ms: int = 10_000,
) -> Application:
    """The Quix application wiring the scorer between the pipeline's topics (not started).

    A checkpoint (one Kafka transaction, one scoring batch) closes every `commit_interval` seconds or
    `commit_every` messages, whichever comes first: it bounds the latency seen by read_committed
    readers, the batch size and the work redone after a crash. A replica that dies loses its
    partitions to the others after `session_timeout_ms` (Kafka's default, 45 s, would hold them that
    long).
    """
    app = Application(
        broker_address=bootstrap,
        consumer_group=consumer_group,
        processing_guarantee="exactly-once",
        commit_interval=commit_interval,
        commit_every=commit_every,
        auto_offset_reset=auto_offset_reset,  # type: ignore[arg-type]
        state_dir=state_dir,
        loglevel=None,
        auto_create_topics=True,
        # The local RocksDB is a cache of the changelog topics (an emptyDir in a pod), and a checkpoint
        # writes data and changelog offsets in one batch: after a crash it is consistent, maybe older,
        # and catches up from the changelog. An fsync per store per checkpoint would only add latency.
        rocksdb_options=RocksDBOptions(use_fsync=False),
        consumer_extra_config={"session.timeout.ms": session_timeout_ms, "heartbeat.interval.ms": 1000},
    )
    source = app.topic(topics.transactions, key_deserializer="str", value_deserializer="bytes")
    for name in (topics.decisions, topics.alerts, topics.deadletter):  # declared so Quix creates them
        app.topic(name, key_serializer="str", value_serializer="bytes")
    sink = DecisionSink(scorer, topics)
    sink.bind(*_transactional_clients(app, topics.transactions, scorer.metrics))
    # One chain, no branches: Quix copies a value for each branch (pickling it), a cost per message
    # the size of the scorer's own work.
    app.dataframe(source).apply(scorer.prepare, stateful=True, metadata=True).sink(sink)
    return app


def _transactional_clients(
    app: Application, source: str, metrics: ScorerMetrics
) -> tuple[InternalProducer, Callable[[dict[int, int]], None]]:
    """The application's own producer (records produced with it during a checkpoint's sink flush join
    that checkpoint's transaction) and a consumer-lag reporter. Quix has no public accessor for
    either; the version is pinned and the exactly-once tests fail if this stops holding."""
    producer, consumer = app._producer, app._consumer
    if not isinstance(producer, InternalProducer):
        raise TypeError(f"unexpected Quix producer {type(producer).__name__}: check the quixstreams pin")

    def report_lag(last_offsets: dict[int, int]) -> None:
        for partition, offset in last_offsets.items():
            _, high = consumer.get_watermark_offsets(TopicPartition(source, partition), cached=True)
            if high >= 0:  # negative until the client has fetched from the partition
                metrics.consumer_lag.labels(str(partition)).set(max(0, high - offset - 1))

    return producer, report_lag
