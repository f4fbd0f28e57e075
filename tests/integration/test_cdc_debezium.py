"""Debezium's PostgreSQL connector on the local Connect worker: the operator's connector config (literal
database settings instead of Secret references) snapshots the bank's cards, then streams an UPDATE, into
the compacted topic the operator declares, and survives a worker restart without re-reading the snapshot.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewTopic

from fraudlake.local.stack import manager
from fraudlake.local.stack.service import ServiceRecord, StackContext
from fraudlake.local.stack.services.connect import (
    connector_plugins,
    connector_status,
    delete_connector,
    put_connector,
)
from fraudlake.operator.builders import Pipeline
from fraudlake.operator.sources import (
    POSTGRES_CONNECTOR_CLASS,
    literal_settings,
    replication_name,
    source_connector_manifest,
    source_topic_manifests,
    table_topic,
)
from fraudlake.pipeline.spec import FraudPipelineSpec
from fraudlake.producer.bank_db import CAPTURED_TABLES, BankCard, BankDatabase, BankUser

pytestmark = pytest.mark.integration

USERS = [BankUser(f"u{i}", f"Person {i}", f"{i} Elm Street", "Chicago", "IL", "60601") for i in range(3)]
CARDS = [BankCard(f"c{i}", f"u{i}", "Visa", "Credit", 1000.0 + i) for i in range(3)]


@pytest.fixture(scope="module")
def postgres(stack: StackContext) -> ServiceRecord:
    return manager.up(stack, ["postgres"])["postgres"]


@pytest.fixture
def bank(postgres: ServiceRecord) -> Iterator[dict[str, Any]]:
    """A fresh database of the bank per test, with its reference data; dropped afterwards."""
    database = f"bank_{uuid.uuid4().hex[:8]}"
    admin = postgres.credentials["dsn"]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    settings = {**postgres.endpoints, **postgres.credentials, "database": database}
    settings["dsn"] = admin.rsplit("/", 1)[0] + f"/{database}"
    with BankDatabase(settings["dsn"]) as db:
        db.create_schema()
        db.load_reference(USERS, CARDS)
    yield settings
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{database}" WITH (FORCE)')


def pipeline_with_source() -> Pipeline:
    name = f"cdc{uuid.uuid4().hex[:6]}"
    spec = FraudPipelineSpec.parse(
        {
            "kafka": {"clusterRef": {"name": "kafka"}},
            "lake": {"connectClusterRef": {"name": "connect"}, "bucket": "lake"},
            "clickhouse": {"endpointSecret": {"name": "ch"}, "database": "fraud"},
            "sources": [
                {
                    "name": "bank",
                    "databaseSecret": {"name": "bank-db"},
                    "tables": list(CAPTURED_TABLES),
                    "topic": {"partitions": 1, "replicas": 1},
                }
            ],
        }
    )
    return Pipeline("itest", name, 1, spec)


def create_topics(bootstrap: str, manifests: list[dict[str, Any]]) -> None:
    """What Strimzi's topic operator does with the operator's KafkaTopics."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = [
        NewTopic(
            m["spec"]["topicName"],
            m["spec"]["partitions"],
            m["spec"]["replicas"],
            config={key: str(value) for key, value in m["spec"]["config"].items()},
        )
        for m in manifests
    ]
    for future in admin.create_topics(topics).values():
        future.result(timeout=30)


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = probe()
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


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


def drop_slot(dsn: str, slot: str) -> None:
    """Debezium keeps its replication slot when the connector is deleted (it is the connector's resume
    position); a test drops it once the walsender has gone."""

    def dropped() -> bool:
        with psycopg.connect(dsn, autocommit=True) as conn:
            row = conn.execute(
                "SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,)
            ).fetchone()
            if row is None:
                return True
            if not row[0]:
                conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
            return False

    wait_for(f"replication slot {slot} to be dropped", dropped, timeout=30)


def test_worker_loads_debezium_postgres_beside_the_sink(kafka_connect: ServiceRecord) -> None:
    assert POSTGRES_CONNECTOR_CLASS in connector_plugins(kafka_connect.endpoints["rest"])


def test_snapshot_then_streamed_update_reach_the_compacted_topic(
    kafka: ServiceRecord, kafka_connect: ServiceRecord, bank: dict[str, Any]
) -> None:
    rest, bootstrap = kafka_connect.endpoints["rest"], kafka.endpoints["bootstrap"]
    pipeline = pipeline_with_source()
    (source,) = pipeline.spec.sources
    topics = source_topic_manifests(pipeline)
    assert {m["spec"]["config"]["cleanup.policy"] for m in topics} == {"compact"}
    create_topics(bootstrap, topics)
    manifest = source_connector_manifest(pipeline, source, literal_settings(bank))
    name = manifest["metadata"]["name"]
    config = {
        "connector.class": manifest["spec"]["class"],
        "tasks.max": str(manifest["spec"]["tasksMax"]),
        **manifest["spec"]["config"],
    }
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
    finally:
        reader.close()
        delete_connector(rest, name)
        drop_slot(bank["dsn"], replication_name(pipeline, source))
