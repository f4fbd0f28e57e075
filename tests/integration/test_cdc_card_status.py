"""A card the bank stops in its database is declined by the stream scorer: real PostgreSQL, Debezium on the
local Connect worker (the operator's connector config), Kafka and `fraudlake scorer run` as a process.

- a card blocked before the scorer starts is declined from its first transaction (the scorer reads the
  compacted CDC topic before it decides anything);
- a card blocked while transactions flow is declined once the change arrives (the time from the commit to
  the first declined transaction is printed; bench/cdc.py measures it at rate);
- a reissued card's old number is declined, the new one is not;
- every transaction still gets exactly one decision.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from cdc_kit import (
    bank,  # noqa: F401 - a fixture
    connector_config,
    create_topics,
    drop_slot,
    pipeline_with_source,
    postgres,  # noqa: F401 - a fixture
    read_topic,
)
from confluent_kafka import Consumer
from model_kit import frame_records, trained_model

from fraudlake.local.stack.service import ServiceRecord
from fraudlake.local.stack.services.connect import delete_connector, put_connector
from fraudlake.ml.registry import LocalStore, ModelRegistry
from fraudlake.operator.sources import (
    replication_name,
    source_topic_manifests,
    table_topic,
)
from fraudlake.producer.bank_db import BankCard, BankDatabase, BankUser

sys.path.insert(0, str(Path(__file__).parents[1] / "unit" / "stream"))
from stream_kit import ScorerProcess, create_topic, produce, topics_of, transaction_message, unique_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


class Decisions:
    """The decisions topic as the scorer commits it (read_committed), by transaction id."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"itest-{uuid.uuid4().hex[:8]}",
                "isolation.level": "read_committed",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        self.consumer.subscribe([topic])
        self.seen: list[dict[str, Any]] = []

    def of(self, txn_id: str, scorer: ScorerProcess, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            found = [d for d in self.seen if d["txn_id"] == txn_id]
            if found:
                return found[0]
            assert time.monotonic() < deadline, f"no decision for {txn_id}: {scorer.log_text()[-3000:]}"
            assert scorer.alive(), scorer.log_text()[-3000:]
            message = self.consumer.poll(0.2)
            if message is not None and not message.error():
                self.seen.append(json.loads(message.value()))

    def settle(self, seconds: float) -> None:
        """Read on until nothing more arrives for `seconds` (a duplicate would show up here)."""
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < seconds:
            message = self.consumer.poll(0.2)
            if message is not None and not message.error():
                self.seen.append(json.loads(message.value()))
                quiet_since = time.monotonic()

    def close(self) -> None:
        self.consumer.close()


def card_status_rule(decision: dict[str, Any]) -> str | None:
    hits = [hit["message"] for hit in decision["rules_fired"] if hit["type"] == "CardStatus"]
    return hits[0] if hits else None


def test_cards_the_bank_stops_are_declined_by_the_stream_scorer(
    kafka: ServiceRecord,
    kafka_connect: ServiceRecord,
    bank: dict[str, Any],  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    files, frame = trained_model()
    ModelRegistry(LocalStore(tmp_path / "lake"), "models").publish(files)
    txns = frame_records(frame, len(frame) - 400)
    early, later, reissued = list(dict.fromkeys(t["card_id"] for t in txns))[:3]
    owners = {t["card_id"]: t["user_id"] for t in txns}
    with BankDatabase(bank["dsn"]) as db:
        users = {owners[card] for card in (early, later, reissued)}
        db.load_reference(
            [BankUser(user, "A Person", "1 Elm Street", "Chicago", "IL", "60601") for user in users],
            [BankCard(card, owners[card], "Visa", "Credit", 5000.0) for card in (early, later, reissued)],
        )
        db.block_card(early)  # before the connector starts: the snapshot carries it

    rest, bootstrap = kafka_connect.endpoints["rest"], kafka.endpoints["bootstrap"]
    source_pipeline = pipeline_with_source()
    (source,) = source_pipeline.spec.sources
    create_topics(bootstrap, source_topic_manifests(source_pipeline))
    connector, config = connector_config(source_pipeline, bank)
    cards_topic = table_topic(source_pipeline, source, "public.cards")
    put_connector(rest, connector, config)
    pipeline = unique_pipeline("cards")
    topics = topics_of(pipeline)
    create_topic(bootstrap, topics["transactions"], 2)
    decisions = Decisions(bootstrap, topics["decisions"])
    scorer = None
    try:
        read_topic(bootstrap, cards_topic, lambda changes: len(changes) >= 3)  # the snapshot is in Kafka
        scorer = ScorerProcess(
            bootstrap,
            pipeline,
            tmp_path / "lake" / "models",
            tmp_path,
            extra=("--cdc-topics", cards_topic, "--commit-interval", "0.1"),
        ).start()
        sent: list[str] = []

        def decide(card_id: str, n: int) -> dict[str, Any]:
            template = next(t for t in txns if t["card_id"] == card_id)
            txn = template | {"txn_id": f"{card_id}-{n}-{uuid.uuid4().hex[:6]}"}
            produce(bootstrap, topics["transactions"], [transaction_message(txn)])
            sent.append(txn["txn_id"])
            return decisions.of(txn["txn_id"], scorer)

        first = decide(early, 0)
        assert (first["decision"], card_status_rule(first)) == ("decline", "card blocked (confirmed fraud)")
        assert card_status_rule(decide(later, 0)) is None
        assert card_status_rule(decide(reissued, 0)) is None

        with BankDatabase(bank["dsn"]) as db:
            db.block_card(later, "card reported stolen")
            blocked_at = time.time()
            db.reissue_card(reissued, f"{reissued}-r")
        outcomes = []  # (seconds after the commit: transaction produced, decided; card status rule)
        for n in range(1, 300):
            produced = time.time() - blocked_at
            decision = decide(later, n)
            outcomes.append(
                (produced, decision["decided_ms"] / 1000 - blocked_at, card_status_rule(decision))
            )
            if outcomes[-1][2] is not None and produced > 1.0:
                break
        first_declined = next(at for at, _, rule in outcomes if rule is not None)
        decided = next(at for _, at, rule in outcomes if rule is not None)
        print(
            f"block committed → first declined transaction: produced +{first_declined:.3f} s,"
            f" decided +{decided:.3f} s ({len(outcomes)} transactions after the block)"
        )
        assert outcomes[-1][2] == "card blocked (card reported stolen)"
        # Once a transaction was declined for the block, every later one is too.
        assert all(rule is not None for at, _, rule in outcomes if at >= first_declined)
        replaced = decide(reissued, 1)
        assert (replaced["decision"], card_status_rule(replaced)) == (
            "decline",
            "card replaced by a reissued card",
        )

        # One decision per transaction, none lost, none twice.
        for txn_id in sent:
            decisions.of(txn_id, scorer)
        decisions.settle(seconds=2)
        counted = [d["txn_id"] for d in decisions.seen]
        assert sorted(counted) == sorted(sent)
    finally:
        decisions.close()
        if scorer is not None:
            scorer.stop()
        delete_connector(rest, connector)
        drop_slot(bank["dsn"], replication_name(source_pipeline, source))


@pytest.fixture(scope="module", autouse=True)
def _model_cached() -> pd.DataFrame:
    """Train (or load the cached) small model once, outside the timed part of the test."""
    return trained_model()[1]
