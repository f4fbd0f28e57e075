"""The stream scorer as a Quix Streams application.

    transactions ──apply(CardScorer, stateful)──┬─> decisions   (exactly one per input message)
                                                 ├─> alerts      (review/decline, or a rule fired)
                                                 └─> deadletter  (unreadable input, with the reason)

Exactly once: `processing_guarantee="exactly-once"` makes each checkpoint one Kafka transaction holding
the produced records, the state's changelog records and the consumed offsets. A scorer killed mid-
checkpoint leaves an aborted transaction: read_committed readers never see its records, and the next
owner of the partitions re-reads from the last committed offsets with the state as of that commit.

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from quixstreams import Application
from quixstreams.context import message_context
from quixstreams.state import State

from fraudlake.api.sinks import alert_messages
from fraudlake.ml.features import EVENT_MS, MINUTE_MS
from fraudlake.pipeline.spec import Rule
from fraudlake.scoring.bundle import ModelBundle, ReasonPolicy
from fraudlake.scoring.core import score_transactions
from fraudlake.scoring.state import ServingState
from fraudlake.stream.metrics import ScorerMetrics
from fraudlake.stream.records import BadInputError, dead_letter_record, decision_record, decode_transaction

log = logging.getLogger("fraudlake.stream")
_HISTORY = "recent"  # the Quix state key of a card's recent transactions


@dataclass(frozen=True)
class ScorerTopics:
    transactions: str
    decisions: str
    alerts: str
    deadletter: str


@dataclass
class CardScorer:
    """The stateful step: one transaction message in, what to publish out.

    Returns {"decision": …} plus "alert" when flagged, or {"dead": …} for an unreadable message. Reads
    the current model once per message, so a hot swap lands between two messages: every decision is
    made by exactly one model version, which it names.
    """

    current_model: Callable[[], ModelBundle | None]
    rules: Sequence[Rule]
    metrics: ScorerMetrics
    reasons: ReasonPolicy = "all"
    top_reasons: int = 5
    state: ServingState | None = None
    _warm_cards: set[str] = field(default_factory=set)

    @property
    def history_reach_ms(self) -> int:
        return max((r.window_minutes for r in self.rules if r.enabled), default=0) * MINUTE_MS

    def __call__(self, value: bytes | None, key: Any, timestamp: int, _headers: Any, store: State) -> dict:
        try:
            txn = decode_transaction(value)
        except BadInputError as error:
            ctx = message_context()
            self.metrics.dead_letters.labels(error.kind).inc()
            return {"dead": dead_letter_record(error, value, ctx.partition, ctx.offset)}
        bundle = self.current_model()
        if bundle is None:  # the engine starts consuming only once a model is loaded
            raise RuntimeError("no model loaded")
        state = self._state_for(bundle)
        if txn.card_id not in self._warm_cards:
            self._warm_cards.add(txn.card_id)
            for earlier in store.get(_HISTORY, []):
                state.observe(earlier)  # ids already known to this process are skipped
        scored = score_transactions(bundle, state, [txn], self.reasons, self.top_reasons)
        self._remember(store, scored.records[0])
        result = scored.results[0]
        out: dict[str, Any] = {
            "decision": decision_record(result, scored.records[0], bundle.version, timestamp)
        }
        self.metrics.decisions.labels(result.decision).inc()
        self.metrics.latency.observe(max(0.0, time.time() - timestamp / 1000))
        alerts = alert_messages(scored, bundle.version)
        if alerts:
            self.metrics.alerts.inc()
            out["alert"] = json.loads(alerts[0][1])
        return out

    def _state_for(self, bundle: ModelBundle) -> ServingState:
        """The online state for the model's feature configuration (a new model may change it)."""
        config = bundle.model.feature_config
        if self.state is None or self.state.config != config:
            if self.state is not None:
                log.warning("feature configuration changed with the model: starting a new online state")
            self.state = ServingState(config, self.rules)
            self._warm_cards.clear()
        return self.state

    def _remember(self, store: State, record: dict[str, Any]) -> None:
        """Keep the card's transactions within the longest rule window in the changelogged state."""
        reach = self.history_reach_ms
        if not reach:
            return
        horizon = record[EVENT_MS] - reach
        kept = [r for r in store.get(_HISTORY, []) if r[EVENT_MS] > horizon]
        kept.append(record)
        store.set(_HISTORY, kept)


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

    A checkpoint (one Kafka transaction) closes every `commit_interval` seconds or `commit_every`
    messages, whichever comes first: it bounds both the latency seen by read_committed readers and
    the work redone after a crash. A replica that dies loses its partitions to the others after
    `session_timeout_ms` (Kafka's default, 45 s, would hold them that long).
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
        consumer_extra_config={"session.timeout.ms": session_timeout_ms, "heartbeat.interval.ms": 1000},
    )
    source = app.topic(topics.transactions, key_deserializer="str", value_deserializer="bytes")
    decisions = app.topic(topics.decisions, key_serializer="str", value_serializer="json")
    alerts = app.topic(topics.alerts, key_serializer="str", value_serializer="json")
    deadletter = app.topic(topics.deadletter, key_serializer="str", value_serializer="json")
    sdf = app.dataframe(source).apply(scorer, stateful=True, metadata=True)
    sdf.filter(lambda out: "decision" in out).apply(lambda out: out["decision"]).to_topic(
        decisions, key=lambda d: d["card_id"]
    )
    sdf.filter(lambda out: "alert" in out).apply(lambda out: out["alert"]).to_topic(
        alerts, key=lambda a: a["card_id"]
    )
    sdf.filter(lambda out: "dead" in out).apply(lambda out: out["dead"]).to_topic(deadletter)
    return app
