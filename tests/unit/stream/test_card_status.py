"""The bank's stopped cards: Debezium change events of its cards table into the book, and a stopped card
declined whatever its score by every way a transaction is decided (the stream scorer's batches, the
API's scoring), with the status as a fired rule and an alert that says why."""

from __future__ import annotations

import json
from typing import Any

import pytest
from model_kit import frame_records, trained_model
from stream_kit import transaction_message

from fraudlake.api.sinks import alert_messages
from fraudlake.ml.artifact import FraudModel
from fraudlake.pipeline.spec import SEED_RULES
from fraudlake.scoring.bundle import ModelBundle
from fraudlake.scoring.card_status import CARD_STATUS_RULE, CardStatusBook, stop_message
from fraudlake.scoring.core import score_transactions
from fraudlake.scoring.state import ServingState
from fraudlake.stream import engine
from fraudlake.stream.engine import CardScorer
from fraudlake.stream.metrics import ScorerMetrics
from fraudlake.stream.records import decode_transaction

pytestmark = pytest.mark.unit


def change(
    op: str, card_id: str, lsn: int, status: str = "active", reason: str | None = None
) -> dict[str, Any]:
    """A Debezium change event of the cards table (the fields the book reads, as the connector sends them)."""
    image = {"card_id": card_id, "user_id": "u1", "status": status, "blocked_reason": reason, "version": 1}
    return {
        "op": op,
        "before": image if op == "d" else None,
        "after": None if op == "d" else image,
        "source": {"lsn": lsn, "table": "cards", "ts_ms": 1_700_000_000_000},
    }


def test_a_blocked_card_is_stopped_until_a_newer_change_frees_it() -> None:
    book = CardStatusBook()
    assert book.apply(change("r", "c1", 10)) is False  # an active card is not kept
    assert len(book) == 0
    assert book.apply(change("u", "c1", 20, "blocked", "confirmed fraud"))
    assert book.stopped("c1") == "card blocked (confirmed fraud)"
    assert book.stopped("c2") is None
    # Kafka Connect delivers the block again after a restart: older than what the book has, ignored.
    assert book.apply(change("u", "c1", 30, "active"))
    assert book.apply(change("u", "c1", 20, "blocked", "confirmed fraud")) is False
    assert book.stopped("c1") is None
    assert book.stopped_count() == 0


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ({"status": "blocked", "blocked_reason": None}, "card blocked"),
        ({"status": "replaced"}, "card replaced by a reissued card"),
        ({"status": "lost"}, "card lost"),
        ({"status": "active"}, None),
        ({"status": None}, None),
        (None, "card closed: removed from the bank's records"),
    ],
)
def test_each_status_says_why_the_card_takes_no_transactions(
    image: dict[str, Any] | None, message: str | None
) -> None:
    assert stop_message(image) == message


def test_a_deleted_card_is_closed_and_a_tombstone_changes_nothing() -> None:
    book = CardStatusBook()
    assert book.apply(change("d", "c9", 40))
    assert book.apply(None) is False
    assert book.stopped("c9") == "card closed: removed from the bank's records"


def test_a_change_without_its_key_is_refused() -> None:
    event = change("u", "c1", 5, "blocked") | {"after": {"status": "blocked"}}
    with pytest.raises(ValueError, match="no card_id"):
        CardStatusBook().apply(event)


def test_a_change_without_a_status_column_leaves_the_card_as_it_was() -> None:
    """A column renamed in the bank's database must not free a blocked card."""
    book = CardStatusBook()
    book.apply(change("u", "c1", 5, "blocked", "confirmed fraud"))
    renamed = change("u", "c1", 6) | {"after": {"card_id": "c1", "card_status": "active"}}
    with pytest.raises(ValueError, match="without a status column"):
        book.apply(renamed)
    assert book.stopped("c1") == "card blocked (confirmed fraud)"


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    return ModelBundle.load(FraudModel(trained_model()[0]), "memory")


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    frame = trained_model()[1]
    return frame_records(frame, len(frame) - 300)


class Store(dict):
    """Quix's per-key State, in memory."""

    def set(self, key: str, value: Any) -> None:
        self[key] = value


def test_the_stream_scorer_declines_a_stopped_card_and_only_it(bundle, records, monkeypatch) -> None:
    monkeypatch.setattr(engine, "message_context", lambda: type("Ctx", (), {"partition": 0, "offset": 0}))
    stopped = records[-1]["card_id"]
    book = CardStatusBook()
    book.apply(change("u", stopped, 7, "blocked", "confirmed fraud"))
    with_book = CardScorer(lambda: bundle, SEED_RULES, ScorerMetrics(), card_status=book)
    without = CardScorer(lambda: bundle, SEED_RULES, ScorerMetrics())

    def decide(scorer: CardScorer) -> list[dict[str, Any]]:
        stores: dict[str, Store] = {}
        batch = [
            scorer.prepare(value, key, 0, None, stores.setdefault(key, Store()))
            for key, value in map(transaction_message, records)
        ]
        return [json.loads(body) for _, body in scorer.decide(batch).decisions]

    blocked, plain = decide(with_book), decide(without)
    assert [d["score"] for d in blocked] == [d["score"] for d in plain]  # the model still scores
    for got, usual in zip(blocked, plain, strict=True):
        if got["card_id"] == stopped:
            assert got["decision"] == "decline"
            assert got["rules_fired"][-1] == {
                "rule": CARD_STATUS_RULE,
                "type": "CardStatus",
                "message": "card blocked (confirmed fraud)",
            }
        else:
            assert got == usual | {"decided_ms": got["decided_ms"]}
    assert any(d["card_id"] == stopped for d in blocked)


def test_the_alert_of_a_stopped_card_names_the_status_not_the_model(bundle, records) -> None:
    txn = decode_transaction(transaction_message(records[0])[1])
    book = CardStatusBook()
    book.apply(change("u", txn.card_id, 7, "replaced"))
    state = ServingState(bundle.model.feature_config, SEED_RULES)
    scored = score_transactions(bundle, state, [txn], card_status=book)
    ((key, body),) = alert_messages(scored, bundle.version)
    alert = json.loads(body)
    assert key == txn.card_id
    assert alert["source"] == f"rule:{CARD_STATUS_RULE}"
    assert alert["severity"] == "high"
    assert alert["message"].startswith("card replaced by a reissued card: declined (model ")
    assert alert["rules"] == [CARD_STATUS_RULE]
