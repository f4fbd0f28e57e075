"""Shared by the CDC integration tests: the bank's reference data in a fresh PostgreSQL database per test,
a pipeline with one source, and what Strimzi and a loader would do around the Debezium connector."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewTopic

from fraudlake.clickhouse.cdc_ingest import decode
from fraudlake.local.stack import manager
from fraudlake.local.stack.service import ServiceRecord, StackContext
from fraudlake.operator.builders import Pipeline
from fraudlake.operator.sources import literal_settings, source_connector_manifest
from fraudlake.pipeline.spec import FraudPipelineSpec
from fraudlake.producer.bank_db import CAPTURED_TABLES, BankCard, BankDatabase, BankUser

Changes = list[dict[str, Any] | None]  # Debezium payloads; None for a tombstone


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


def connector_config(pipeline: Pipeline, bank: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """The operator's Debezium KafkaConnector for the pipeline's one source as Strimzi would PUT it to
    Connect (name, config), with the test database's settings in place of Secret references."""
    (source,) = pipeline.spec.sources
    manifest = source_connector_manifest(pipeline, source, literal_settings(bank))
    spec = manifest["spec"]
    config = {"connector.class": spec["class"], "tasks.max": str(spec["tasksMax"]), **spec["config"]}
    return manifest["metadata"]["name"], config


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


def read_topic(bootstrap: str, topic: str, done: Callable[[Changes], bool]) -> Changes:
    """The topic from its first offset (a fresh consumer group: a full replay, as a loader restarted
    without its offsets would read it) until `done` says enough arrived."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"itest-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    values: Changes = []

    def enough() -> bool:
        message = consumer.poll(0.5)
        if message is not None and not message.error():
            values.append(decode(message.value()))
        return done(values)

    try:
        wait_for(f"records in {topic}", enough)
    finally:
        consumer.close()
    return values
