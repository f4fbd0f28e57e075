"""The demo's bank: its users and cards in the stack's PostgreSQL, captured by Debezium (spec.sources).

    demo users, cards ──> PostgreSQL (BankDatabase) ──Debezium (KafkaConnector by the operator, made
    real by local Strimzi)──> <pipeline>.cdc.bank.public.{users,cards}
        ├─> stream scorer (--cdc-topics): a blocked card is declined whatever its score
        └─> ClickHouseLoader (a thread of the demo) ─> bank_users / bank_cards (+ _history)

The pipeline gets a `spec.sources` entry and a Secret with the database's settings in the Connect
cluster's namespace: the operator's KafkaConnector refers to it (`${secrets:…}`) and local Strimzi
resolves it, as Strimzi's config provider does in a cluster. The bank is written before the pipeline is
applied, so Debezium's snapshot carries it. While the stream stage sends its live transactions, the demo
blocks one card that is about to transact (`CardBlock`) and measures what the scorer made of it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from fraudlake.local.stack.service import ServiceRecord
from fraudlake.pipeline import naming

SOURCE = "bank"
SECRET = "demo-bank-db"  # noqa: S105 - the Secret's name
CARD_STATUS_RULE = "CardStatus"  # the fired rule's type when the scorer declines a stopped card
BLOCK_AT = 0.3  # the card is blocked once this share of the live transactions is sent


def with_bank_source(docs: list[dict[str, Any]], postgres: ServiceRecord) -> list[dict[str, Any]]:
    """The demo's manifests plus the bank as a CDC source: `spec.sources` and its Secret."""
    from fraudlake.producer.bank_db import CAPTURED_TABLES

    pipeline = next(d for d in docs if d["kind"] == naming.KIND)
    connect_namespace = pipeline["spec"]["lake"]["connectClusterRef"]["namespace"]
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": SECRET, "namespace": connect_namespace},
        "type": "Opaque",
        "stringData": {
            "host": str(postgres.endpoints["host"]),
            "port": str(postgres.endpoints["port"]),
            "database": str(postgres.endpoints["database"]),
            "user": postgres.credentials["user"],
            "password": postgres.credentials["password"],
        },
    }
    pipeline["spec"]["sources"] = [
        {
            "name": SOURCE,
            "databaseSecret": {"name": SECRET},
            "tables": list(CAPTURED_TABLES),
            "topic": {"partitions": 1, "replicas": 1},  # the one local broker
        }
    ]
    return [*docs, secret]


def load_bank(dsn: str, users: int) -> dict[str, int]:
    """The demo's first `users` users and their cards into the bank's database (a rerun adds nothing)."""
    from fraudlake.common.card_token import load_token_key
    from fraudlake.producer.bank_db import BankCard, BankDatabase, BankUser
    from fraudlake.producer.entities import first_users, load_cards, load_users

    user_table, card_table = first_users(load_users(), load_cards(load_token_key()), users)
    bank_users = [
        BankUser(u["user_id"], u["person"], u["address"], u["city"], u["state"], u["zipcode"])
        for u in user_table.select(["user_id", "person", "address", "city", "state", "zipcode"]).to_pylist()
    ]
    bank_cards = [
        BankCard(c["card_id"], c["user_id"], c["card_brand"], c["card_type"], c["credit_limit"])
        for c in card_table.select(
            ["card_id", "user_id", "card_brand", "card_type", "credit_limit"]
        ).to_pylist()
    ]
    with BankDatabase(dsn) as db:
        db.create_schema()
        db.load_reference(bank_users, bank_cards)
    return {"users": len(bank_users), "cards": len(bank_cards)}


def cdc_topics(pipeline: dict[str, Any]) -> list[str]:
    """The pipeline's CDC topics, as the operator names them and gives them to the scorer."""
    from fraudlake.operator.builders import cdc_topics as operator_cdc_topics
    from fraudlake.operator.reconcile import pipeline_from

    return operator_cdc_topics(pipeline_from(pipeline))


def cards_topic(pipeline: dict[str, Any]) -> str:
    """The CDC topic of the bank's cards table."""
    return next(topic for topic in cdc_topics(pipeline) if topic.endswith(".public.cards"))


def wait_for_snapshot(bootstrap: str, topic: str, rows: int, timeout: float = 120.0) -> None:
    """Until `topic` holds at least `rows` messages (Debezium's snapshot of the table is in Kafka)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "fraudlake-demo-probe", "log_level": 0})
    deadline = time.monotonic() + timeout
    held = 0
    try:
        while time.monotonic() < deadline:
            topics = consumer.list_topics(topic, timeout=10).topics
            partitions = topics[topic].partitions if topic in topics else {}
            held = sum(
                consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions
            )
            if held >= rows:
                return
            time.sleep(1)
    finally:
        consumer.close()
    raise TimeoutError(f"Debezium's snapshot: {topic} holds {held} of {rows} cards after {timeout:.0f}s")


@dataclass
class CardBlock:
    """Blocks, in the bank's database, the card of the live stream with the most transactions after
    `BLOCK_AT` of it (and at least one before: a card in use), once that share is sent.

    `table` sees each generated table before it is sent, `sent` the count produced so far (the live
    sender's hooks). `later` holds the card's transactions produced after the block's commit.
    """

    dsn: str
    count: int
    card_id: str = ""
    blocked_at: float | None = None  # epoch seconds, right after the block committed
    block_seq: int = 0
    seqs: dict[str, int] = field(default_factory=dict)  # the card's txn_id → its position in the stream

    def table(self, table: pa.Table, first: int) -> None:
        cards = table["card_id"].to_pylist()
        if not self.card_id:
            self.card_id = pick_card(cards, int(self.count * BLOCK_AT))
        for i, (card, txn_id) in enumerate(zip(cards, table["txn_id"].to_pylist(), strict=True)):
            if card == self.card_id:
                self.seqs[txn_id] = first + i

    def sent(self, produced: int) -> None:
        if self.blocked_at is not None or not self.card_id or produced < int(self.count * BLOCK_AT):
            return
        from fraudlake.producer.bank_db import BankDatabase

        with BankDatabase(self.dsn) as db:
            db.block_card(self.card_id)  # autocommit: committed when it returns
        self.blocked_at, self.block_seq = time.time(), produced

    @property
    def later(self) -> set[str]:
        return {txn_id for txn_id, seq in self.seqs.items() if seq >= self.block_seq}


def pick_card(cards: list[str], split: int) -> str:
    """The card with the most transactions from `split` on among those with one before it."""
    before = set(cards[:split])
    after: dict[str, int] = {}
    for card in cards[split:]:
        if card in before:
            after[card] = after.get(card, 0) + 1
    if not after:
        raise ValueError("no card of the live stream transacts both before and after the block")
    return min(after, key=lambda card: (-after[card], card))


def block_outcome(clickhouse: Any, database: str, block: CardBlock) -> dict[str, Any]:
    """What the stream scorer made of the block: the card's later transactions declined with the card
    status rule, the time from the commit to the first of them, and the card as ClickHouse has it."""
    later = block.later
    rows = clickhouse.query(
        "SELECT txn_id, decision, rules_fired, toUnixTimestamp64Milli(produced_at), "
        f"toUnixTimestamp64Milli(decided_at) FROM {database}.decisions FINAL "
        "WHERE card_id = {card:String}",
        parameters={"card": block.card_id},
    ).result_rows
    # (produced, decided, declined by the card status rule) of the card's later transactions, in order
    outcomes = sorted(
        (produced / 1000, decided / 1000, decision == "decline" and _card_status_fired(rules))
        for txn_id, decision, rules, produced, decided in rows
        if txn_id in later
    )
    declined = sorted((decided, produced) for produced, decided, stopped in outcomes if stopped)
    blocked_at = block.blocked_at or 0.0
    first = declined[0] if declined else None
    return {
        "card_id": block.card_id,
        "blocked_at": datetime.fromtimestamp(blocked_at, UTC).isoformat(timespec="milliseconds"),
        "later_transactions": len(later),
        "later_decided": len(outcomes),
        "declined_card_status": len(declined),
        # Sent after the first declined one yet not declined: the block did not hold (should be 0).
        "not_declined_after_first": sum(
            not stopped for produced, _, stopped in outcomes if first and produced > first[1]
        ),
        "first_decline_s": round(first[0] - blocked_at, 3) if first else None,
        "first_declined_produced_s": round(first[1] - blocked_at, 3) if first else None,
        **bank_in_clickhouse(clickhouse, database, block.card_id),
    }


def _card_status_fired(rules_fired: str) -> bool:
    return any(hit.get("type") == CARD_STATUS_RULE for hit in json.loads(rules_fired or "[]"))


def bank_in_clickhouse(clickhouse: Any, database: str, card_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """The bank's tables in ClickHouse: users and cards (FINAL) and `card_id`'s status, once it is not
    active any more (or whatever it is after `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        status = clickhouse.query(
            f"SELECT status FROM {database}.bank_cards FINAL WHERE card_id = {{card:String}}",
            parameters={"card": card_id},
        ).result_rows
        if (status and status[0][0] != "active") or time.monotonic() > deadline:
            break
        time.sleep(1)
    counts = {
        table: int(clickhouse.query(f"SELECT count() FROM {database}.{table} FINAL").result_rows[0][0])
        for table in ("bank_users", "bank_cards")
    }
    return {"clickhouse_status": status[0][0] if status else None, "clickhouse_rows": counts}
