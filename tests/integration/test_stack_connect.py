"""The local Kafka Connect is a real distributed worker: the Aiven S3 sink writes Parquet into MinIO,
and a killed worker resumes from the offsets it keeps in Kafka."""

from __future__ import annotations

import io
import json
import os
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from minio import Minio

from fraudlake.stack import manager
from fraudlake.stack.service import ServiceRecord, StackContext
from fraudlake.stack.services.connect import (
    AIVEN_S3_SINK_CLASS,
    aiven_s3_plugin,
    connector_plugins,
    connector_status,
    put_connector,
)

pytestmark = pytest.mark.integration

FILE_SINK_CLASS = "org.apache.kafka.connect.file.FileStreamSinkConnector"
STRING_CONVERTER = "org.apache.kafka.connect.storage.StringConverter"
RECORDS = 100
RECORDS_PER_FILE = 50

# JsonConverter's envelope: the S3 sink needs the schema to write Parquet.
TRANSACTION_SCHEMA = {
    "type": "struct",
    "name": "transaction",
    "optional": False,
    "fields": [
        {"field": "txn_id", "type": "string", "optional": False},
        {"field": "card_id", "type": "string", "optional": False},
        {"field": "amount", "type": "double", "optional": False},
        {"field": "event_ts", "type": "int64", "optional": False},
    ],
}


def new_name(kind: str) -> str:
    return f"itest-{kind}-{uuid.uuid4().hex[:8]}"


def create_topic(bootstrap: str) -> str:
    name = new_name("topic")
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(name, 1, 1)]).values():
        future.result(timeout=30)
    return name


def produce(bootstrap: str, topic: str, records: list[tuple[str, bytes]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"})
    for key, value in records:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(30) == 0


def wait_for(what: str, probe: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(1)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


def sink_committed_offset(bootstrap: str, connector: str, topic: str) -> int:
    """Offset the sink connector's consumer group (connect-<name>) has committed on partition 0."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"connect-{connector}"})
    try:
        return consumer.committed([TopicPartition(topic, 0)], timeout=10)[0].offset
    finally:
        consumer.close()


def minio_client(minio: ServiceRecord) -> Minio:
    creds = minio.credentials
    host = minio.endpoints["url"].removeprefix("http://")
    return Minio(host, access_key=creds["access_key"], secret_key=creds["secret_key"], secure=False)


def test_worker_lists_the_aiven_s3_sink_plugin(kafka_connect: ServiceRecord) -> None:
    assert AIVEN_S3_SINK_CLASS in connector_plugins(kafka_connect.endpoints["rest"])


def test_aiven_plugin_bundles_the_parquet_writer_but_not_kafka(kafka_connect: ServiceRecord) -> None:
    jars = [jar.name for jar in aiven_s3_plugin().libs_dir.glob("*.jar")]
    assert any(jar.startswith("s3-connector-for-apache-kafka-") for jar in jars)
    for needed in ("parquet-avro-", "parquet-hadoop-", "avro-", "aws-java-sdk-s3-"):
        assert any(jar.startswith(needed) for jar in jars), needed
    # Connect's plugin isolation: the worker provides these; a second copy would clash.
    assert not [jar for jar in jars if jar.startswith(("kafka-clients-", "connect-api-", "slf4j-api-"))]


def test_aiven_s3_sink_writes_parquet_named_by_topic_partition_offset(
    kafka: ServiceRecord, kafka_connect: ServiceRecord, minio: ServiceRecord
) -> None:
    bootstrap, rest = kafka.endpoints["bootstrap"], kafka_connect.endpoints["rest"]
    bucket, topic, connector = new_name("lake"), create_topic(bootstrap), new_name("s3-sink")
    client = minio_client(minio)
    client.make_bucket(bucket)
    put_connector(
        rest,
        connector,
        {
            "connector.class": AIVEN_S3_SINK_CLASS,
            "tasks.max": "1",
            "topics": topic,
            "key.converter": STRING_CONVERTER,
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter.schemas.enable": "true",
            "aws.access.key.id": minio.credentials["access_key"],
            "aws.secret.access.key": minio.credentials["secret_key"],
            "aws.s3.bucket.name": bucket,
            "aws.s3.endpoint": minio.endpoints["url"],
            "aws.s3.region": "us-east-1",
            "aws.s3.path.style.access.enabled": "true",
            "format.output.type": "parquet",
            "format.output.fields": "value",
            "format.output.envelope": "false",
            "file.compression.type": "snappy",
            "file.name.template": "raw/{{topic}}-{{partition}}-{{start_offset}}.parquet",
            "file.max.records": str(RECORDS_PER_FILE),
        },
    )
    records = [
        (
            f"card-{i % 7}",
            json.dumps(
                {
                    "schema": TRANSACTION_SCHEMA,
                    "payload": {"txn_id": f"t{i:04d}", "card_id": f"card-{i % 7}", "amount": i * 1.5,
                                "event_ts": 1_700_000_000_000 + i},
                }
            ).encode(),
        )
        for i in range(RECORDS)
    ]  # fmt: skip
    produce(bootstrap, topic, records)

    expected = {f"raw/{topic}-0-{offset}.parquet" for offset in range(0, RECORDS, RECORDS_PER_FILE)}

    def objects_written() -> bool:
        names = {obj.object_name for obj in client.list_objects(bucket, prefix="raw/", recursive=True)}
        return expected <= names

    wait_for(f"{sorted(expected)} in MinIO (status: {connector_status(rest, connector)})", objects_written)
    tables = []
    for name in sorted(expected):
        response = client.get_object(bucket, name)
        try:
            tables.append(pq.read_table(io.BytesIO(response.read())))
        finally:
            response.close()
            response.release_conn()
    assert sum(table.num_rows for table in tables) == RECORDS
    txn_ids = sorted(txn for table in tables for txn in table.column("txn_id").to_pylist())
    assert txn_ids == [f"t{i:04d}" for i in range(RECORDS)]


# Last in this module: it kills and restarts the session's worker.
def test_killed_worker_resumes_from_offsets_kept_in_kafka(
    stack: StackContext, kafka: ServiceRecord, kafka_connect: ServiceRecord, tmp_path: Path
) -> None:
    bootstrap, rest = kafka.endpoints["bootstrap"], kafka_connect.endpoints["rest"]
    topic, connector, sink_file = create_topic(bootstrap), new_name("file-sink"), tmp_path / "sink.txt"
    put_connector(
        rest,
        connector,
        {
            "connector.class": FILE_SINK_CLASS,
            "tasks.max": "1",
            "topics": topic,
            "file": str(sink_file),
            "key.converter": STRING_CONVERTER,
            "value.converter": STRING_CONVERTER,
        },
    )

    def lines() -> list[str]:
        return sink_file.read_text().splitlines() if sink_file.exists() else []

    produce(bootstrap, topic, [(str(i), f"line-{i}".encode()) for i in range(20)])
    wait_for("the first 20 lines", lambda: len(lines()) >= 20)
    wait_for("the sink to commit offset 20", lambda: sink_committed_offset(bootstrap, connector, topic) == 20)

    os.kill(manager.load_endpoints(stack.stack_dir)["connect"].pids[0], signal.SIGKILL)
    restarted = manager.up(stack, ["connect"])["connect"]
    assert restarted.endpoints["rest"] == rest  # same address after a restart
    produce(bootstrap, topic, [(str(i), f"line-{i}".encode()) for i in range(20, 40)])

    wait_for("all 40 lines", lambda: len(lines()) >= 40)
    time.sleep(2)  # a replay would append duplicates right after
    assert lines() == [f"line-{i}" for i in range(40)]
