"""The S3 Parquet sink config: one function for the KafkaConnector and the local worker."""

from __future__ import annotations

import pytest

from fraudlake.lake.connector import (
    S3_SINK_CLASS,
    LiteralCredentials,
    MissingTopicIdError,
    SecretCredentials,
    connector_properties,
    s3_sink_config,
    secret_credentials,
    sink_topics,
    worker_settings,
)
from fraudlake.pipeline.spec import FraudPipelineSpec

pytestmark = pytest.mark.unit

SPEC = FraudPipelineSpec.parse(
    {
        "kafka": {"clusterRef": {"name": "kafka"}},
        "lake": {
            "connectClusterRef": {"name": "connect", "namespace": "kafka"},
            "bucket": "lake",
            "prefix": "p/q",
            "endpoint": "http://127.0.0.1:9000/",
            "credentialsSecret": {"name": "s3"},
            "flush": {"maxRecords": 500, "intervalSeconds": 5},
        },
        "clickhouse": {"endpointSecret": {"name": "ch"}, "database": "fraud"},
    }
)
# Kafka topic ids (URL-safe base64 of 16 bytes), one per sink topic.
IDS = {topic: f"id{i}AAAAAAAAAAAAAAAAAAA" for i, topic in enumerate(sink_topics("ns", "demo"))}


def test_parquet_with_typed_records_and_replay_safe_object_names() -> None:
    config = s3_sink_config(SPEC, "ns", "demo", None, IDS)
    assert config["format.output.type"] == "parquet"
    assert config["value.converter"] == "org.apache.kafka.connect.json.JsonConverter"
    assert config["value.converter.schemas.enable"] == "true"
    assert config["format.output.fields"] == "value,offset,timestamp"  # the loader needs offsets
    assert config["format.output.envelope"] == "true"
    template = config["file.name.template"]
    assert template == (
        "p/q/raw/{{topic}}/{{topic_id}}/{{partition:padding=true}}-{{start_offset:padding=true}}.parquet"
    )
    assert config["file.max.records"] == "500"
    assert config["aws.s3.endpoint"] == "http://127.0.0.1:9000"
    assert config["aws.s3.path.style.access.enabled"] == "true"  # MinIO
    assert config["file.flush.interval.ms"] == "5000"
    assert config["aws.s3.bucket.name"] == "lake"
    assert "aws.access.key.id" not in config  # no credentials: AWS default chain (IRSA)


def test_kubernetes_gets_config_provider_references_only() -> None:
    credentials = secret_credentials(SPEC, "ns")
    assert credentials == SecretCredentials("kafka", "s3")
    config = s3_sink_config(SPEC, "ns", "demo", credentials, IDS)
    assert config["aws.access.key.id"] == "${secrets:kafka/s3:AWS_ACCESS_KEY_ID}"
    assert config["aws.secret.access.key"] == "${secrets:kafka/s3:AWS_SECRET_ACCESS_KEY}"


def test_local_worker_gets_the_same_config_plus_name_class_and_literal_keys() -> None:
    literal = LiteralCredentials("minio", "minio-secret")
    props = connector_properties(SPEC, "ns", "demo", literal, IDS)
    assert props["name"] == "fraudlake.ns.demo.lake-sink"
    assert props["connector.class"] == S3_SINK_CLASS
    assert props["tasks.max"] == "1"
    shared = s3_sink_config(SPEC, "ns", "demo", literal, IDS)
    assert {k: props[k] for k in shared} == shared
    assert props["aws.secret.access.key"] == "minio-secret"
    assert "minio-secret" not in repr(literal)
    assert worker_settings(SPEC) == {"offset.flush.interval.ms": "5000"}


def test_the_sink_names_objects_by_each_topics_incarnation_and_refuses_a_topic_without_one() -> None:
    config = s3_sink_config(SPEC, "ns", "demo", None, IDS)
    assert config["topic.ids"] == ",".join(f"{topic}={IDS[topic]}" for topic in config["topics"].split(","))
    without_cards = {topic: id_ for topic, id_ in IDS.items() if not topic.endswith(".cards")}
    with pytest.raises(MissingTopicIdError, match=r"fraudlake\.ns\.demo\.cards"):
        s3_sink_config(SPEC, "ns", "demo", None, without_cards)
    # librdkafka's standard base64 ('/' would add a folder to the key) is not Kafka's form.
    with pytest.raises(MissingTopicIdError, match="URL-safe"):
        s3_sink_config(SPEC, "ns", "demo", None, {**IDS, next(iter(IDS)): "wXTe5ZEuQ4+1xjK/trU5Aw"})
