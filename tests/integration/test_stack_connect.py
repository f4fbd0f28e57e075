"""The local Kafka Connect is a real distributed worker: Fraudlake's S3 Parquet sink writes typed Parquet
into MinIO, and a killed worker resumes from the offsets it keeps in Kafka without duplicating records."""

from __future__ import annotations

import io
import json
import os
import signal
import time
import uuid
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from minio import Minio

from fraudlake.lake.connector import S3_SINK_CLASS, LiteralCredentials, connector_properties, sink_topics
from fraudlake.local.roundtrip.harness import kafka_topic_ids
from fraudlake.local.stack import manager
from fraudlake.local.stack.service import ServiceRecord, StackContext
from fraudlake.local.stack.services.connect import (
    connector_plugins,
    connector_status,
    delete_connector,
    put_connector,
    s3_parquet_sink_plugin,
    validate_connector,
)
from fraudlake.operator.builders import Pipeline, sink_error_config
from fraudlake.pipeline import naming
from fraudlake.pipeline.spec import FraudPipelineSpec
from fraudlake.schemas.envelope import JsonEncoder
from fraudlake.schemas.fields import FieldType
from fraudlake.schemas.formats import to_arrow_schema
from fraudlake.schemas.records import TRANSACTIONS

pytestmark = pytest.mark.integration

RECORDS = 100
RECORDS_PER_FILE = 50
STRING_CONVERTER = "org.apache.kafka.connect.storage.StringConverter"
JSON_CONVERTER = "org.apache.kafka.connect.json.JsonConverter"
DATA_EXCEPTION = "org.apache.kafka.connect.errors.DataException"


def new_name(kind: str) -> str:
    return f"itest-{kind}-{uuid.uuid4().hex[:8]}"


def create_topics(bootstrap: str, *names: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(name, 1, 1) for name in names]).values():
        future.result(timeout=30)


def transactions(first: int, count: int) -> pa.Table:
    """`count` transaction rows shaped like the platform's schema; txn_id t0000…, nulls in optional fields."""
    rows = range(first, first + count)
    values: dict[FieldType, Callable[[int], Any]] = {
        FieldType.STRING: lambda i: f"s{i}",
        FieldType.INT32: lambda i: i % 1000,
        FieldType.INT64: lambda i: 10_000_000_000 + i,
        FieldType.FLOAT64: lambda i: i * 1.5,
        FieldType.BOOL: lambda i: i % 10 == 0,
        FieldType.TIMESTAMP_MS: lambda i: 1_700_000_000_000 + i,
    }
    columns = {}
    for fld in TRANSACTIONS.fields:
        make = values[fld.type]
        columns[fld.name] = [None if fld.nullable and i % 3 == 0 else make(i) for i in rows]
    columns["txn_id"] = [f"t{i:04d}" for i in rows]
    columns["card_id"] = [f"card-{i % 7}" for i in rows]
    return pa.table(columns, schema=to_arrow_schema(TRANSACTIONS))


def produce_transactions(bootstrap: str, topic: str, first: int, count: int) -> None:
    """JSON with the Connect schema embedded (JsonConverter, schemas.enable=true), keyed by card."""
    table = transactions(first, count)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"})
    for key, value in zip(
        table.column("card_id").to_pylist(), JsonEncoder(TRANSACTIONS).encode(table), strict=True
    ):
        producer.produce(topic, key=key, value=value.encode())
    assert producer.flush(30) == 0


def wait_for(what: str | Callable[[], str], probe: Callable[[], bool], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(1)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what() if callable(what) else what}")


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


def object_names(client: Minio, bucket: str, prefix: str) -> set[str]:
    return {obj.object_name for obj in client.list_objects(bucket, prefix=prefix, recursive=True)}


def read_parquet(client: Minio, bucket: str, name: str) -> pa.Table:
    response = client.get_object(bucket, name)
    try:
        return pq.read_table(io.BytesIO(response.read()))
    finally:
        response.close()
        response.release_conn()


def flat_sink_config(topic: str, bucket: str, minio: ServiceRecord, **extra: str) -> dict[str, str]:
    """The sink writing the value's fields as top-level columns under raw/."""
    return {
        "connector.class": S3_SINK_CLASS,
        "tasks.max": "1",
        "topics": topic,
        "key.converter": STRING_CONVERTER,
        "value.converter": JSON_CONVERTER,
        "value.converter.schemas.enable": "true",
        "aws.access.key.id": minio.credentials["access_key"],
        "aws.secret.access.key": minio.credentials["secret_key"],
        "aws.s3.bucket.name": bucket,
        "aws.s3.endpoint": minio.endpoints["url"],
        "aws.s3.region": "us-east-1",
        "aws.s3.path.style.access.enabled": "true",
        "aws.s3.prefix": "raw/",
        "format.output.type": "parquet",
        "format.output.fields": "value",
        "format.output.envelope": "false",
        "file.compression.type": "snappy",
        "file.max.records": str(RECORDS_PER_FILE),
        **extra,
    }


def columns(schema: pa.Schema) -> list[tuple[str, pa.DataType, bool]]:
    return [(fld.name, fld.type, fld.nullable) for fld in schema]


def test_worker_lists_the_s3_parquet_sink_plugin(kafka_connect: ServiceRecord) -> None:
    assert S3_SINK_CLASS in connector_plugins(kafka_connect.endpoints["rest"])


def test_plugin_bundles_the_parquet_writer_but_not_kafka(kafka_connect: ServiceRecord) -> None:
    jars = [jar.name for jar in s3_parquet_sink_plugin().libs_dir.glob("*.jar")]
    for needed in (
        "s3-parquet-sink-",
        "parquet-hadoop-",
        "hadoop-common-",
        "s3-2.",
        "url-connection-client-",
    ):
        assert any(jar.startswith(needed) for jar in jars), needed
    # Connect's plugin isolation: the worker provides these; a second copy would clash.
    assert not [jar for jar in jars if jar.startswith(("kafka-clients-", "connect-api-", "slf4j-api-"))]


def test_sink_writes_typed_parquet_named_by_topic_partition_offset(
    kafka: ServiceRecord, kafka_connect: ServiceRecord, minio: ServiceRecord
) -> None:
    bootstrap, rest = kafka.endpoints["bootstrap"], kafka_connect.endpoints["rest"]
    bucket, topic, connector = new_name("lake"), new_name("topic"), new_name("s3-sink")
    create_topics(bootstrap, topic)
    client = minio_client(minio)
    client.make_bucket(bucket)
    put_connector(rest, connector, flat_sink_config(topic, bucket, minio))
    produce_transactions(bootstrap, topic, 0, RECORDS)

    expected = {f"raw/{topic}-0-{offset}.parquet" for offset in range(0, RECORDS, RECORDS_PER_FILE)}
    wait_for(
        lambda: f"{sorted(expected)} in MinIO (status: {connector_status(rest, connector)})",
        lambda: expected <= object_names(client, bucket, "raw/"),
    )
    tables = [read_parquet(client, bucket, name) for name in sorted(expected)]
    assert [table.num_rows for table in tables] == [RECORDS_PER_FILE, RECORDS_PER_FILE]
    # Same columns, types and nullability as the schema module's Parquet schema (event_ts: ms, UTC).
    for table in tables:
        assert columns(table.schema) == columns(to_arrow_schema(TRANSACTIONS))
    lake = pa.concat_tables(tables)
    assert lake.column("txn_id").to_pylist() == [f"t{i:04d}" for i in range(RECORDS)]
    assert lake.select(TRANSACTIONS.names).equals(transactions(0, RECORDS))
    wait_for(
        "the sink to commit offset 100", lambda: sink_committed_offset(bootstrap, connector, topic) == RECORDS
    )


def test_the_pipelines_connector_config_writes_aivens_envelope(
    kafka: ServiceRecord, kafka_connect: ServiceRecord, minio: ServiceRecord
) -> None:
    """What the operator deploys, as is: rows are {value: <record>, offset, timestamp} under <prefix>/raw/."""
    bootstrap, rest = kafka.endpoints["bootstrap"], kafka_connect.endpoints["rest"]
    namespace, pipeline, bucket = "itest", f"p{uuid.uuid4().hex[:6]}", new_name("lake")
    spec = FraudPipelineSpec.parse(
        {
            "kafka": {"clusterRef": {"name": "kafka"}},
            "lake": {
                "connectClusterRef": {"name": "connect"},
                "bucket": bucket,
                "prefix": "fraudlake",
                "endpoint": minio.endpoints["url"],
                "flush": {"maxRecords": RECORDS_PER_FILE, "intervalSeconds": 3600},
            },
            "clickhouse": {"endpointSecret": {"name": "ch"}, "database": "fraud"},
        }
    )
    credentials = LiteralCredentials(minio.credentials["access_key"], minio.credentials["secret_key"])
    topics = sink_topics(namespace, pipeline)
    create_topics(bootstrap, *topics)
    topic_ids = kafka_topic_ids(bootstrap, topics)
    config = connector_properties(spec, namespace, pipeline, credentials, topic_ids)
    assert validate_connector(rest, config) == {}
    client = minio_client(minio)
    client.make_bucket(bucket)
    put_connector(rest, config.pop("name"), config)
    transactions_topic = next(t for t in topics if t.endswith(".transactions"))
    produce_transactions(bootstrap, transactions_topic, 0, RECORDS_PER_FILE)

    # The topic's incarnation is a folder of its own: a recreated topic's offset 0 lands beside this.
    topic_id = topic_ids[transactions_topic]
    name = f"fraudlake/raw/{transactions_topic}/{topic_id}/0000000000-00000000000000000000.parquet"
    wait_for(f"{name} in MinIO", lambda: name in object_names(client, bucket, "fraudlake/raw/"))
    table = read_parquet(client, bucket, name)
    assert table.column_names == ["value", "offset", "timestamp"]
    assert table.column("offset").to_pylist() == list(range(RECORDS_PER_FILE))
    assert table.schema.field("timestamp").type == pa.int64()
    value = table.column("value").combine_chunks()
    assert [(f.name, f.type) for f in value.type] == [(f.name, f.type) for f in to_arrow_schema(TRANSACTIONS)]
    assert value.field("txn_id").to_pylist() == [f"t{i:04d}" for i in range(RECORDS_PER_FILE)]


def test_config_errors_name_the_key(kafka_connect: ServiceRecord) -> None:
    errors = validate_connector(
        kafka_connect.endpoints["rest"],
        {
            "name": "bad",
            "connector.class": S3_SINK_CLASS,
            "topics": "t",
            "aws.s3.bucket.name": "lake",
            "aws.access.key.id": "only-half-the-credentials",
            "file.name.template": "{{topic}}.parquet",
        },
    )
    assert set(errors) == {"aws.secret.access.key", "file.name.template"}
    assert "{{partition}}" in errors["file.name.template"][0]


def test_poison_records_go_to_the_dead_letter_topic_and_the_lake_keeps_flowing(
    kafka: ServiceRecord, kafka_connect: ServiceRecord, minio: ServiceRecord
) -> None:
    """The operator's connector config (error handling included) on the real worker: a record that is not
    JSON (the converter fails) and one whose schema Parquet cannot take (the task reports it) land on the
    pipeline's dead-letter topic with Connect's error headers; the good records around them land in the
    lake; the task keeps RUNNING."""
    bootstrap, rest = kafka.endpoints["bootstrap"], kafka_connect.endpoints["rest"]
    namespace, name, bucket = "itest", f"p{uuid.uuid4().hex[:6]}", new_name("lake")
    spec = FraudPipelineSpec.parse(
        {
            "kafka": {"clusterRef": {"name": "kafka"}, "topics": {"transactions": {"replicas": 1}}},
            "lake": {
                "connectClusterRef": {"name": "connect"},
                "bucket": bucket,
                "endpoint": minio.endpoints["url"],
                "credentialsSecret": {"name": "lake"},
                "flush": {"maxRecords": RECORDS_PER_FILE, "intervalSeconds": 1},
            },
            "clickhouse": {"endpointSecret": {"name": "ch"}, "database": "fraud"},
        }
    )
    pipeline = Pipeline(namespace, name, 1, spec)
    credentials = LiteralCredentials(minio.credentials["access_key"], minio.credentials["secret_key"])
    deadletter = sink_error_config(pipeline)["errors.deadletterqueue.topic.name"]
    assert deadletter == naming.topic_name(namespace, name, naming.SINK_DEADLETTER)
    create_topics(bootstrap, *sink_topics(namespace, name), deadletter)  # the operator's KafkaTopics
    topic_ids = kafka_topic_ids(bootstrap, sink_topics(namespace, name))
    config = {
        **connector_properties(spec, namespace, name, credentials, topic_ids),
        **sink_error_config(pipeline),
    }
    assert validate_connector(rest, config) == {}
    client = minio_client(minio)
    client.make_bucket(bucket)
    connector = config.pop("name")
    put_connector(rest, connector, {**config, "file.flush.interval.ms": "1000"})

    topic = naming.topic_name(namespace, name, "transactions")
    produce_transactions(bootstrap, topic, 0, 20)  # offsets 0..19
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    producer.produce(topic, key="card-x", value=b"\x00{not json")  # offset 20: the converter fails
    # A Struct holding an array: Parquet columns here take no arrays, so the task reports the record.
    wrong_schema = json.dumps(
        {
            "schema": {
                "type": "struct",
                "optional": False,
                "fields": [
                    {"field": "txn_id", "type": "array", "items": {"type": "string"}, "optional": False}
                ],
            },
            "payload": {"txn_id": ["t9999"]},
        }
    ).encode()
    producer.produce(topic, key="card-y", value=wrong_schema)  # offset 21: the task cannot write it
    assert producer.flush(30) == 0
    produce_transactions(bootstrap, topic, 20, 20)  # offsets 22..41

    def lake_rows() -> pa.Table | None:
        names = sorted(object_names(client, bucket, f"fraudlake/raw/{topic}/"))
        tables = [read_parquet(client, bucket, n) for n in names]
        return pa.concat_tables(tables) if tables else None

    wait_for(
        lambda: f"40 good records in the lake (status: {connector_status(rest, connector)})",
        lambda: (rows := lake_rows()) is not None and rows.num_rows >= 40,
    )
    rows = lake_rows()
    assert rows is not None
    assert sorted(rows.column("value").combine_chunks().field("txn_id").to_pylist()) == [
        f"t{i:04d}" for i in range(40)
    ]
    assert sorted(rows.column("offset").to_pylist()) == [*range(20), *range(22, 42)]

    status = connector_status(rest, connector)
    assert status["connector"]["state"] == "RUNNING", status
    assert [task["state"] for task in status["tasks"]] == ["RUNNING"], status

    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": new_name("dlq"), "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([deadletter])
    dead: list[Any] = []
    try:
        deadline = time.monotonic() + 60
        while len(dead) < 2 and time.monotonic() < deadline:
            message = consumer.poll(1)
            if message is not None and not message.error():
                dead.append(message)
    finally:
        consumer.close()
    assert [m.value() for m in dead] == [b"\x00{not json", wrong_schema]  # unchanged, in order
    headers = [{k: v.decode() for k, v in m.headers()} for m in dead]
    for offset, header in zip((20, 21), headers, strict=True):
        assert header["__connect.errors.topic"] == topic
        assert header["__connect.errors.partition"] == "0"
        assert header["__connect.errors.offset"] == str(offset)
        assert header["__connect.errors.connector.name"] == connector
        assert (
            header["__connect.errors.exception.class.name"] == "org.apache.kafka.connect.errors.DataException"
        )
    assert [h["__connect.errors.stage"] for h in headers] == ["VALUE_CONVERTER", "TASK_PUT"]
    assert "field 'txn_id' has type ARRAY" in headers[1]["__connect.errors.exception.message"]
    delete_connector(rest, connector)


# Last in this module: it kills and restarts the session's worker.
def test_killed_worker_resumes_without_duplicating_records_in_the_lake(
    stack: StackContext, kafka: ServiceRecord, kafka_connect: ServiceRecord, minio: ServiceRecord
) -> None:
    bootstrap, rest = kafka.endpoints["bootstrap"], kafka_connect.endpoints["rest"]
    bucket, topic, connector = new_name("lake"), new_name("topic"), new_name("s3-sink")
    create_topics(bootstrap, topic)
    client = minio_client(minio)
    client.make_bucket(bucket)
    config = flat_sink_config(topic, bucket, minio, **{"file.flush.interval.ms": "5000"})
    config["format.output.kafka.metadata.columns"] = "true"
    put_connector(rest, connector, config)

    def lake_offsets() -> list[int]:
        names = object_names(client, bucket, "raw/")
        return sorted(
            o for n in names for o in read_parquet(client, bucket, n).column("_kafka_offset").to_pylist()
        )

    produce_transactions(bootstrap, topic, 0, 75)
    first = f"raw/{topic}-0-0.parquet"
    wait_for(f"{first} in MinIO", lambda: first in object_names(client, bucket, "raw/"))
    # Mid-stream: offsets 50..74 sit in the open file in memory, the commit may not have happened yet.
    os.kill(manager.load_endpoints(stack.stack_dir)["connect"].pids[0], signal.SIGKILL)
    produce_transactions(bootstrap, topic, 75, 75)
    restarted = manager.up(stack, ["connect"])["connect"]
    assert restarted.endpoints["rest"] == rest  # same address after a restart

    wait_for("offset 150 committed", lambda: sink_committed_offset(bootstrap, connector, topic) == 150)
    assert lake_offsets() == list(range(150))  # every record once: replays overwrote their objects
    for name in object_names(client, bucket, "raw/"):
        table = read_parquet(client, bucket, name)
        start = int(name.removesuffix(".parquet").rsplit("-", 1)[1])
        assert table.column("_kafka_offset").to_pylist() == list(range(start, start + table.num_rows)), name
