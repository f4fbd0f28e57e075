"""Pure builders: KafkaTopics, the KafkaConnector, ClickHouse parameters, topic plans."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from fraudlake.lake.connector import S3_SINK_CLASS, sink_topics
from fraudlake.local.stack.paths import strimzi_crd
from fraudlake.operator.builders import (
    Pipeline,
    connector_differs,
    connector_manifest,
    plan_topic,
    retention_ms,
    schema_params,
    sink_error_config,
    topic_manifests,
)
from fraudlake.pipeline import naming
from fraudlake.pipeline.spec import FraudPipelineSpec

pytestmark = pytest.mark.unit

EXAMPLE = Path(__file__).resolve().parents[3] / "operator" / "examples" / "pipeline.yaml"


def topic_ids(pipeline: Pipeline) -> dict[str, str]:
    """A Kafka topic id per sink topic, as Strimzi reports them."""
    return {
        topic: f"{i}xAAAAAAAAAAAAAAAAAAAAA"
        for i, topic in enumerate(sink_topics(pipeline.namespace, pipeline.name))
    }


@pytest.fixture
def pipeline() -> Pipeline:
    manifest = yaml.safe_load(EXAMPLE.read_text())
    return Pipeline("fraud", "demo", 3, FraudPipelineSpec.parse(manifest["spec"]))


def _strimzi_schema(kind: str) -> dict[str, Any]:
    crd = yaml.safe_load(strimzi_crd(kind).read_text())
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


@pytest.mark.parametrize(
    ("retention", "ms"),
    [
        ("7d", 604_800_000),
        ("12h", 43_200_000),
        ("90s", 90_000),
        ("2w", 1_209_600_000),
        ("500ms", 500),
        ("infinite", -1),
    ],
)
def test_retention_ms(retention: str, ms: int) -> None:
    assert retention_ms(retention) == ms


def test_topics_one_per_stream_in_the_kafka_namespace(pipeline: Pipeline) -> None:
    topics = topic_manifests(pipeline)
    assert [t["metadata"]["name"] for t in topics] == [
        f"fraudlake.fraud.demo.{s}"
        for s in ("transactions", "cards", "users", "alerts", "decisions", "deadletter", "lake-deadletter")
    ]
    assert [t["metadata"]["labels"][naming.STREAM_LABEL] for t in topics] == list(naming.ALL_STREAMS)
    for topic in topics:
        assert topic["metadata"]["namespace"] == "kafka"
        assert topic["metadata"]["labels"][naming.STRIMZI_CLUSTER_LABEL] == "fraudlake"
        assert naming.owner_of(topic["metadata"]["labels"]) == ("fraud", "demo")
        assert topic["spec"]["topicName"] == topic["metadata"]["name"]
    transactions, cards = topics[0]["spec"], topics[1]["spec"]
    assert transactions["partitions"] == 6
    assert transactions["replicas"] == 3
    assert transactions["config"] == {
        "retention.ms": 604_800_000,
        "cleanup.policy": "delete",
        "min.insync.replicas": 2,
    }
    assert cards["config"] == {"retention.ms": -1, "cleanup.policy": "compact"}


def test_scorer_topics_follow_the_transactions_topic(pipeline: Pipeline) -> None:
    """The scorer writes decisions and dead letters whether or not it runs yet: the topics exist from the
    start, shaped after the transactions topic (the spec has no section of their own)."""
    by_stream = {t["metadata"]["labels"][naming.STREAM_LABEL]: t["spec"] for t in topic_manifests(pipeline)}
    transactions = by_stream["transactions"]
    assert {k: v for k, v in by_stream["decisions"].items() if k != "topicName"} == {
        k: v for k, v in transactions.items() if k != "topicName"
    }
    deadletter = by_stream["deadletter"]
    assert (deadletter["partitions"], deadletter["replicas"]) == (1, transactions["replicas"])
    assert deadletter["config"] == transactions["config"]
    assert by_stream["decisions"]["topicName"] == naming.topic_name("fraud", "demo", "decisions")
    assert deadletter["topicName"] == naming.topic_name("fraud", "demo", "deadletter")

    # They grow with the transactions topic, and are never compacted (each decision is kept).
    spec = pipeline.spec.model_dump(by_alias=True)
    spec["kafka"]["topics"]["transactions"] |= {"partitions": 24, "cleanupPolicy": "compact,delete"}
    grown = Pipeline("fraud", "demo", 4, FraudPipelineSpec.parse(spec))
    by_stream = {t["metadata"]["labels"][naming.STREAM_LABEL]: t["spec"] for t in topic_manifests(grown)}
    assert by_stream["decisions"]["partitions"] == 24
    assert by_stream["deadletter"]["partitions"] == 1
    assert by_stream["decisions"]["config"]["cleanup.policy"] == "delete"
    assert by_stream["deadletter"]["config"]["cleanup.policy"] == "delete"
    # The sink's dead letters: one partition, the transactions topic's replicas and retention, no compaction.
    assert by_stream["lake-deadletter"]["partitions"] == 1
    assert by_stream["lake-deadletter"]["replicas"] == by_stream["transactions"]["replicas"]
    assert by_stream["lake-deadletter"]["config"] == {
        **by_stream["transactions"]["config"],
        "cleanup.policy": "delete",
    }


def test_children_validate_against_the_strimzi_1_2_schemas(pipeline: Pipeline) -> None:
    for topic in topic_manifests(pipeline):
        jsonschema.validate(topic, _strimzi_schema("KafkaTopic"))
    jsonschema.validate(connector_manifest(pipeline, topic_ids(pipeline)), _strimzi_schema("KafkaConnector"))


def test_connector_runs_the_s3_parquet_sink_without_inline_secrets(pipeline: Pipeline) -> None:
    connector = connector_manifest(pipeline, topic_ids(pipeline))
    assert connector["metadata"]["namespace"] == "kafka"
    assert connector["metadata"]["labels"][naming.STRIMZI_CLUSTER_LABEL] == "fraudlake-connect"
    spec = connector["spec"]
    assert spec["class"] == S3_SINK_CLASS
    config = spec["config"]
    # Strimzi rejects these inside config: they come from the KafkaConnector's own fields.
    assert not {"name", "connector.class", "tasks.max"} & set(config)
    assert config["aws.access.key.id"] == "${secrets:kafka/demo-lake-credentials:AWS_ACCESS_KEY_ID}"
    assert config["aws.secret.access.key"] == "${secrets:kafka/demo-lake-credentials:AWS_SECRET_ACCESS_KEY}"
    # Alerts are plain JSON written by the API and the scorer: the lake keeps the record streams only.
    assert config["topics"].split(",") == [
        f"fraudlake.fraud.demo.{s}" for s in ("transactions", "cards", "users")
    ]


def test_connector_skips_poison_records_to_the_pipelines_dead_letter_topic(pipeline: Pipeline) -> None:
    """One record the sink cannot read must not stop the lake: tolerated, reported with its error to a
    dead-letter topic the operator creates, logged without its content."""
    config = connector_manifest(pipeline, topic_ids(pipeline))["spec"]["config"]
    deadletter = naming.topic_name("fraud", "demo", naming.SINK_DEADLETTER)
    assert deadletter in {t["metadata"]["name"] for t in topic_manifests(pipeline)}
    assert deadletter not in config["topics"].split(",")  # never sunk into the lake itself
    assert {key: value for key, value in config.items() if key.startswith("errors.")} == {
        "errors.tolerance": "all",
        "errors.deadletterqueue.topic.name": "fraudlake.fraud.demo.lake-deadletter",
        "errors.deadletterqueue.topic.replication.factor": "3",
        "errors.deadletterqueue.context.headers.enable": "true",
        "errors.log.enable": "true",
        "errors.log.include.messages": "false",
    }
    assert config == {**config, **sink_error_config(pipeline)}


def test_schema_params_follow_the_spec(pipeline: Pipeline) -> None:
    params = schema_params(pipeline)
    assert params.database == "fraud_demo"
    assert params.retention_days == 0
    assert params.kafka_topic == "fraudlake.fraud.demo.transactions"
    assert [r.name for r in params.rules] == ["spend_burst_10m", "velocity_5m"]


def test_plan_creates_a_missing_topic_and_leaves_an_equal_one_alone(pipeline: Pipeline) -> None:
    desired = topic_manifests(pipeline)[0]
    assert plan_topic(desired, None).action == "create"
    # Strimzi may store config numbers as strings and add its own status: still equal.
    existing = {
        "metadata": {**desired["metadata"], "generation": 1},
        "spec": {**desired["spec"], "config": {k: str(v) for k, v in desired["spec"]["config"].items()}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }
    assert plan_topic(desired, existing).action == "none"


def test_plan_grows_partitions_but_refuses_to_shrink(pipeline: Pipeline) -> None:
    desired = topic_manifests(pipeline)[0]
    smaller = {"metadata": desired["metadata"], "spec": {**desired["spec"], "partitions": 3}}
    grow = plan_topic(desired, smaller)
    assert (grow.action, grow.manifest["spec"]["partitions"], grow.refusals) == ("update", 6, [])
    larger = {"metadata": desired["metadata"], "spec": {**desired["spec"], "partitions": 12}}
    shrink = plan_topic(desired, larger)
    assert shrink.manifest["spec"]["partitions"] == 12
    assert shrink.action == "none"
    assert "partitions can only grow" in shrink.refusals[0]


def test_plan_updates_when_labels_or_config_drift(pipeline: Pipeline) -> None:
    desired = topic_manifests(pipeline)[0]
    unlabeled = {"metadata": {"name": desired["metadata"]["name"], "labels": {}}, "spec": desired["spec"]}
    assert plan_topic(desired, unlabeled).action == "update"
    other_config = {
        "metadata": desired["metadata"],
        "spec": {**desired["spec"], "config": {"retention.ms": 1}},
    }
    assert plan_topic(desired, other_config).action == "update"


def test_connector_differs_only_on_owned_fields(pipeline: Pipeline) -> None:
    desired = connector_manifest(pipeline, topic_ids(pipeline))
    existing = {"metadata": desired["metadata"], "spec": {**desired["spec"], "state": "running"}}
    assert not connector_differs(existing, desired)
    changed = {"metadata": desired["metadata"], "spec": {**desired["spec"], "tasksMax": 4}}
    assert connector_differs(changed, desired)


def test_the_sink_runs_unless_a_topic_incarnation_is_refused(pipeline: Pipeline) -> None:
    ids = topic_ids(pipeline)
    assert connector_manifest(pipeline, ids)["spec"]["state"] == "running"
    stopped = connector_manifest(pipeline, ids, stopped=True)
    assert stopped["spec"]["state"] == "stopped"
    jsonschema.validate(stopped, _strimzi_schema("KafkaConnector"))
