"""Debezium's PostgreSQL connector on the local Connect worker: the operator's connector config (literal
database settings instead of Secret references) snapshots the bank's cards, then streams an UPDATE, into
the compacted topic the operator declares, and survives a worker restart without re-reading the snapshot.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from cdc_kit import (
    CARDS,
    bank,  # noqa: F401 - a fixture
    connector_config,
    create_topics,
    drop_slot,
    pipeline_with_source,
    postgres,  # noqa: F401 - a fixture
)
from confluent_kafka import Consumer

from fraudlake.local.stack.service import ServiceRecord
from fraudlake.local.stack.services.connect import (
    connector_plugins,
    connector_status,
    delete_connector,
    put_connector,
)
from fraudlake.operator.sources import (
    POSTGRES_CONNECTOR_CLASS,
    replication_name,
    source_topic_manifests,
    table_topic,
)
from fraudlake.producer.bank_db import BankDatabase

pytestmark = pytest.mark.integration


class ChangeReader:
    """Reads a CDC topic from the start: (key, Debezium payload or None for a tombstone)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"itest-{uuid.uuid4().hex[:8]}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        self.consumer.subscribe([topic])
        self.changes: list[tuple[dict[str, Any], dict[str, Any] | None]] = []

    def read_until(self, done: Callable[[list[tuple[dict[str, Any], dict[str, Any] | None]]], bool]) -> None:
        deadline = time.monotonic() + 60
        while not done(self.changes):
            assert time.monotonic() < deadline, f"changes so far: {self.changes}"
            message = self.consumer.poll(0.5)
            if message is None or message.error():
                continue
            key = json.loads(message.key())["payload"]
            value = json.loads(message.value())["payload"] if message.value() else None
            self.changes.append((key, value))

    def close(self) -> None:
        self.consumer.close()


def ops(changes: list[tuple[dict[str, Any], dict[str, Any] | None]], op: str) -> list[dict[str, Any]]:
    return [value for _, value in changes if value is not None and value["op"] == op]


def test_worker_loads_debezium_postgres_beside_the_sink(kafka_connect: ServiceRecord) -> None:
    assert POSTGRES_CONNECTOR_CLASS in connector_plugins(kafka_connect.endpoints["rest"])


def test_snapshot_then_streamed_update_reach_the_compacted_topic(
    kafka: ServiceRecord,
    kafka_connect: ServiceRecord,
    bank: dict[str, Any],  # noqa: F811 - the fixture imported above
) -> None:
    rest, bootstrap = kafka_connect.endpoints["rest"], kafka.endpoints["bootstrap"]
    pipeline = pipeline_with_source()
    (source,) = pipeline.spec.sources
    topics = source_topic_manifests(pipeline)
    assert {m["spec"]["config"]["cleanup.policy"] for m in topics} == {"compact"}
    create_topics(bootstrap, topics)
    name, config = connector_config(pipeline, bank)
    reader = ChangeReader(bootstrap, table_topic(pipeline, source, "public.cards"))
    put_connector(rest, name, config)
    try:
        reader.read_until(lambda changes: len(ops(changes, "r")) == len(CARDS))
        assert sorted(row["after"]["card_id"] for row in ops(reader.changes, "r")) == ["c0", "c1", "c2"]
        assert connector_status(rest, name)["connector"]["state"] == "RUNNING"

        with BankDatabase(bank["dsn"]) as db:
            db.block_card("c1")
        reader.read_until(lambda changes: len(ops(changes, "u")) == 1)
        (update,) = ops(reader.changes, "u")
        assert update["after"]["card_id"] == "c1"
        assert update["after"]["status"] == "blocked"
        assert update["after"]["blocked_reason"] == "confirmed fraud"
        assert update["after"]["version"] == 2
        assert update["source"]["table"] == "cards"
        assert update["source"]["lsn"] > max(row["source"]["lsn"] or 0 for row in ops(reader.changes, "r"))
        assert reader.changes[-1][0] == {"card_id": "c1"}  # keyed by the primary key: compaction keeps it

        with BankDatabase(bank["dsn"]) as db:
            db.delete_card("c2")
        reader.read_until(lambda changes: changes[-1] == ({"card_id": "c2"}, None))
        (delete,) = ops(reader.changes, "d")
        assert delete["before"]["card_id"] == "c2"

        # A column added in PostgreSQL flows with the next change, the connector never stopping.
        with BankDatabase(bank["dsn"]) as db:
            db.conn.execute("ALTER TABLE cards ADD COLUMN contactless boolean NOT NULL DEFAULT true")
            db.change_limit("c0", 1500.0)
        reader.read_until(lambda changes: len(ops(changes, "u")) == 2)
        assert ops(reader.changes, "u")[-1]["after"]["contactless"] is True
        assert connector_status(rest, name)["tasks"][0]["state"] == "RUNNING"
    finally:
        reader.close()
        delete_connector(rest, name)
        drop_slot(bank["dsn"], replication_name(pipeline, source))
