"""The S3 Parquet sink config: one function for the KafkaConnector and the local worker."""

from __future__ import annotations

import pytest

from fraudlake.lake.connector import (
    S3_SINK_CLASS,
    LiteralCredentials,
    SecretCredentials,
    connector_properties,
    s3_sink_config,
    secret_credentials,
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


def test_parquet_with_typed_records_and_replay_safe_object_names() -> None:
    config = s3_sink_config(SPEC, "ns", "demo", None)
    assert config["format.output.type"] == "parquet"
    assert config["value.converter"] == "org.apache.kafka.connect.json.JsonConverter"
    assert config["value.converter.schemas.enable"] == "true"
    assert config["format.output.fields"] == "value,offset,timestamp"  # the loader needs offsets
    assert config["format.output.envelope"] == "true"
    template = config["file.name.template"]
    assert template == "p/q/raw/{{topic}}/{{partition:padding=true}}-{{start_offset:padding=true}}.parquet"
    assert config["file.max.records"] == "500"
    assert config["aws.s3.endpoint"] == "http://127.0.0.1:9000"
    assert config["aws.s3.path.style.access.enabled"] == "true"  # MinIO
    assert config["file.flush.interval.ms"] == "5000"
    assert config["aws.s3.bucket.name"] == "lake"
    assert "aws.access.key.id" not in config  # no credentials: AWS default chain (IRSA)


def test_kubernetes_gets_config_provider_references_only() -> None:
    credentials = secret_credentials(SPEC, "ns")
    assert credentials == SecretCredentials("kafka", "s3")
    config = s3_sink_config(SPEC, "ns", "demo", credentials)
    assert config["aws.access.key.id"] == "${secrets:kafka/s3:AWS_ACCESS_KEY_ID}"
    assert config["aws.secret.access.key"] == "${secrets:kafka/s3:AWS_SECRET_ACCESS_KEY}"


def test_local_worker_gets_the_same_config_plus_name_class_and_literal_keys() -> None:
    literal = LiteralCredentials("minio", "minio-secret")
    props = connector_properties(SPEC, "ns", "demo", literal)
    assert props["name"] == "fraudlake.ns.demo.lake-sink"
    assert props["connector.class"] == S3_SINK_CLASS
    assert props["tasks.max"] == "1"
    shared = s3_sink_config(SPEC, "ns", "demo", literal)
    assert {k: props[k] for k in shared} == shared
    assert props["aws.secret.access.key"] == "minio-secret"
    assert "minio-secret" not in repr(literal)
    assert worker_settings(SPEC) == {"offset.flush.interval.ms": "5000"}
