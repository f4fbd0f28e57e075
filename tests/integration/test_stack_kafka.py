"""The local Kafka is a real KRaft broker: topics, idempotent producers, consumer groups, Kafka's tools."""

from __future__ import annotations

import subprocess
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from fraudlake.local.stack.service import ServiceRecord
from fraudlake.local.stack.services.kafka import KAFKA_VERSION, kafka_java_command

pytestmark = pytest.mark.integration

MESSAGES = 500
PARTITIONS = 3


def create_topic(bootstrap: str, partitions: int = PARTITIONS) -> str:
    name = f"itest-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(name, partitions, 1)]).values():
        future.result(timeout=30)
    return name


def produce(bootstrap: str, topic: str, count: int) -> None:
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "compression.type": "zstd",
        }
    )
    errors: list[KafkaError] = []
    for i in range(count):
        producer.produce(
            topic,
            key=f"card-{i % 17}",
            value=f"txn-{i}",
            on_delivery=lambda err, _msg: errors.append(err) if err else None,
        )
    assert producer.flush(30) == 0
    assert not errors


def consume_all(bootstrap: str, topic: str, group: str, expected: int) -> list[str]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    values: list[str] = []
    try:
        for _ in range(120):
            for msg in consumer.consume(num_messages=500, timeout=1.0):
                if msg.error():
                    raise KafkaException(msg.error())
                values.append(msg.value().decode())
            if len(values) >= expected:
                break
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return values


def committed_offsets(bootstrap: str, topic: str, group: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        return sum(tp.offset for tp in consumer.committed(partitions, timeout=10))
    finally:
        consumer.close()


def test_produce_and_consume_back_through_a_consumer_group(kafka: ServiceRecord) -> None:
    bootstrap = kafka.endpoints["bootstrap"]
    topic = create_topic(bootstrap)
    produce(bootstrap, topic, MESSAGES)

    group = f"itest-{uuid.uuid4().hex[:8]}"
    values = consume_all(bootstrap, topic, group, MESSAGES)

    assert sorted(values) == sorted(f"txn-{i}" for i in range(MESSAGES))
    assert committed_offsets(bootstrap, topic, group) == MESSAGES


def test_topics_are_only_created_explicitly(kafka: ServiceRecord) -> None:
    admin = AdminClient({"bootstrap.servers": kafka.endpoints["bootstrap"]})
    missing = f"itest-missing-{uuid.uuid4().hex[:8]}"
    metadata = admin.list_topics(topic=missing, timeout=10)
    assert metadata.topics[missing].error is not None
    assert metadata.topics[missing].error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_kafka_producer_performance_tool_runs_against_the_stack(kafka: ServiceRecord) -> None:
    bootstrap = kafka.endpoints["bootstrap"]
    topic = create_topic(bootstrap, partitions=1)
    argv = kafka_java_command(
        "org.apache.kafka.tools.ProducerPerformance",
        ["--topic", topic, "--num-records", "2000", "--record-size", "200", "--throughput", "-1",
         "--producer-props", f"bootstrap.servers={bootstrap}", "acks=all"],
    )  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "2000 records sent" in done.stdout
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "itest-watermarks"})
    try:
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    finally:
        consumer.close()
    assert high == 2000


def test_broker_reports_the_pinned_version(kafka: ServiceRecord) -> None:
    with open(kafka.log, encoding="utf-8", errors="replace") as log:
        assert f"Kafka version: {KAFKA_VERSION}" in log.read()
