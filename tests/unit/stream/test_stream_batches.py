"""The scorer's micro-batches without Kafka: what `prepare` keeps per message, what a checkpoint's flush
publishes, and that a batch decides exactly what one-by-one scoring decides."""

from __future__ import annotations

import json
from typing import Any

import pytest
from model_kit import frame_records, new_version, trained_model
from stream_kit import transaction_message

from fraudlake.ml.artifact import FraudModel
from fraudlake.pipeline.spec import SEED_RULES
from fraudlake.scoring.bundle import ModelBundle
from fraudlake.scoring.core import score_transactions
from fraudlake.scoring.state import ServingState
from fraudlake.stream import engine
from fraudlake.stream.engine import CardScorer, DecisionSink, Pending, ScorerTopics
from fraudlake.stream.metrics import ScorerMetrics
from fraudlake.stream.records import decode_transaction

pytestmark = pytest.mark.unit
TOPICS = ScorerTopics("t.transactions", "t.decisions", "t.alerts", "t.deadletter")


class Store(dict):
    """Quix's per-key State, in memory."""

    def set(self, key: str, value: Any) -> None:
        self[key] = value


class Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str | None, dict[str, Any]]] = []

    def produce(self, topic: str, value: bytes, key: str | None = None, headers: Any = None) -> None:
        assert headers is None, "no trace context while the process does not trace"
        self.sent.append((topic, key, json.loads(value)))


class _Context:
    partition, offset = 0, 0


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    return ModelBundle.load(FraudModel(trained_model()[0]), "memory")


@pytest.fixture(scope="module")
def messages() -> list[tuple[str, bytes]]:
    frame = trained_model()[1]
    return [transaction_message(r) for r in frame_records(frame, len(frame) - 1200)]


@pytest.fixture(autouse=True)
def message_context(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "message_context", lambda: _Context)


def _run(
    scorer: CardScorer, sink: DecisionSink, messages: list[tuple[str | None, bytes]], every: int
) -> None:
    stores: dict[str | None, Store] = {}
    for i, (key, value) in enumerate(messages):
        sink.add(scorer.prepare(value, key, 1_700_000_000_000, None, stores.setdefault(key, Store())))
        if (i + 1) % every == 0:
            sink.flush()
    sink.flush()


def test_batches_decide_what_one_by_one_scoring_decides(bundle, messages) -> None:
    metrics, producer = ScorerMetrics(), Producer()
    scorer = CardScorer(lambda: bundle, SEED_RULES, metrics, reasons="flagged")
    sink, lags = DecisionSink(scorer, TOPICS), []
    sink.bind(producer, lags.append)  # type: ignore[arg-type]
    _run(scorer, sink, messages, every=250)

    state = ServingState(bundle.model.feature_config, SEED_RULES)
    txns = [decode_transaction(value) for _, value in messages]
    expected = [score_transactions(bundle, state, [t], "flagged").results[0] for t in txns]
    decisions = [body for topic, _, body in producer.sent if topic == TOPICS.decisions]
    assert [d["txn_id"] for d in decisions] == [t.txn_id for t in txns]  # one each, in order
    assert [d["score"] for d in decisions] == [r.score for r in expected]
    assert [d["decision"] for d in decisions] == [r.decision for r in expected]
    assert [[h["rule"] for h in d["rules_fired"]] for d in decisions] == [
        [h.rule for h in r.rules_fired] for r in expected
    ]
    assert [len(d["reasons"]) for d in decisions] == [len(r.reasons) for r in expected]
    assert {d["model_version"] for d in decisions} == {bundle.version}
    alerts = [body for topic, _, body in producer.sent if topic == TOPICS.alerts]
    flagged = [d for d in decisions if d["decision"] != "approve" or d["rules_fired"]]
    assert [a["txn_id"] for a in alerts] == [d["txn_id"] for d in flagged]
    assert alerts
    # One observation per flush: 1,200 messages in batches of 250 (the last one 200).
    assert metrics.batch_size._sum.get() == 1200
    assert len(lags) == 5


def test_a_flush_publishes_dead_letters_and_forgets_its_batch(bundle, messages) -> None:
    producer = Producer()
    scorer = CardScorer(lambda: bundle, SEED_RULES, ScorerMetrics())
    sink = DecisionSink(scorer, TOPICS)
    sink.bind(producer, lambda _: None)  # type: ignore[arg-type]
    batch = [messages[0], ("card-x", b"{not json"), messages[1]]
    _run(scorer, sink, batch, every=10)
    topics = [topic for topic, _, _ in producer.sent]
    assert topics.count(TOPICS.decisions) == 2
    dead = [(key, body) for topic, key, body in producer.sent if topic == TOPICS.deadletter]
    assert dead == [("card-x", dead[0][1])]
    assert dead[0][1]["kind"] == "malformed_json"
    sink.flush()  # nothing left from the published batch
    assert len(producer.sent) == len(topics)


def test_a_paused_checkpoint_drops_its_batch_to_be_read_again(bundle, messages) -> None:
    producer = Producer()
    scorer = CardScorer(lambda: bundle, SEED_RULES, ScorerMetrics())
    sink = DecisionSink(scorer, TOPICS)
    sink.bind(producer, lambda _: None)  # type: ignore[arg-type]
    sink.add(scorer.prepare(messages[0][1], messages[0][0], 0, None, Store()))
    sink.on_paused()
    sink.flush()
    assert producer.sent == []


def test_a_card_new_to_the_process_replays_its_history_from_state(bundle, messages) -> None:
    """The second replica's first sight of a card carries the history the first one changelogged."""
    first = CardScorer(lambda: bundle, SEED_RULES, ScorerMetrics())
    store = Store()
    key, value = messages[0]
    item = first.prepare(value, key, 0, None, store)
    assert isinstance(item, Pending)
    assert item.replay == []
    second = CardScorer(lambda: bundle, SEED_RULES, ScorerMetrics())
    later = second.prepare(value.replace(b'"txn_id": "', b'"txn_id": "again-'), key, 0, None, store)
    assert isinstance(later, Pending)
    assert [r["txn_id"] for r in later.replay] == [item.record["txn_id"]]


def test_a_challenger_in_shadow_changes_no_decision_and_scores_as_it_would_alone(bundle, messages) -> None:
    """The challenger's verdicts ride on each decision record; the champion's fields are untouched, and
    the shadow score is the challenger's own score of the transaction (same features, same trees)."""
    challenger = ModelBundle.load(FraudModel(new_version(trained_model()[0], "shadow", review=0.2)), "memory")
    assert challenger.version != bundle.version

    def decide(with_challenger: bool) -> list[dict[str, Any]]:
        producer, metrics = Producer(), ScorerMetrics()
        scorer = CardScorer(
            lambda: bundle,
            SEED_RULES,
            metrics,
            reasons="flagged",
            current_challenger=(lambda: challenger) if with_challenger else (lambda: None),
        )
        sink = DecisionSink(scorer, TOPICS)
        sink.bind(producer, lambda _: None)  # type: ignore[arg-type]
        _run(scorer, sink, messages, every=300)
        return [body for topic, _, body in producer.sent if topic == TOPICS.decisions]

    shadowed, alone = decide(True), decide(False)
    champion_fields = [
        {k: v for k, v in d.items() if not k.startswith("shadow_") and k != "decided_ms"} for d in shadowed
    ]
    assert champion_fields == [{k: v for k, v in d.items() if k != "decided_ms"} for d in alone]
    state = ServingState(challenger.model.feature_config, SEED_RULES)
    own = score_transactions(challenger, state, [decode_transaction(value) for _, value in messages], "none")
    assert [d["shadow_score"] for d in shadowed] == [r.score for r in own.results]
    assert [d["shadow_decision"] for d in shadowed] == [r.decision for r in own.results]
    assert {d["shadow_model_version"] for d in shadowed} == {challenger.version}
    # Its own review threshold (0.2): some verdicts differ from the champion's decisions.
    assert any(d["shadow_decision"] != d["decision"] for d in shadowed)
