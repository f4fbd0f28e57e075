"""Pure builders: a pipeline spec in, Kubernetes manifests and ClickHouse parameters out.

Nothing here talks to an API; `fraudlake.operator.children` and `fraudlake.operator.tables` do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fraudlake.clickhouse.migrations import RuleParams, SchemaParams
from fraudlake.lake.connector import S3_SINK_CLASS, s3_sink_config, secret_credentials
from fraudlake.pipeline import naming
from fraudlake.pipeline.spec import FraudPipelineSpec, TopicSpec

_RETENTION_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


@dataclass(frozen=True)
class Pipeline:
    """One FraudPipeline as the reconcilers see it."""

    namespace: str
    name: str
    generation: int
    spec: FraudPipelineSpec

    @property
    def kafka_namespace(self) -> str:
        """Where the KafkaTopics go: the Kafka cluster's namespace (Strimzi's topic operator watches it)."""
        return self.spec.kafka.cluster_ref.namespace or self.namespace

    @property
    def connect_namespace(self) -> str:
        """Where the KafkaConnector goes: next to its KafkaConnect cluster."""
        return self.spec.lake.connect_cluster_ref.namespace or self.namespace

    @property
    def labels(self) -> dict[str, str]:
        return naming.child_labels(self.namespace, self.name)

    @property
    def selector(self) -> str:
        return naming.child_selector(self.namespace, self.name)


def retention_ms(retention: str) -> int:
    """Kafka retention.ms for a spec retention ('7d', '12h', 'infinite' → -1)."""
    if retention == "infinite":
        return -1
    match = re.fullmatch(r"([0-9]+)(ms|s|m|h|d|w)", retention)
    if not match:
        raise ValueError(f"retention {retention!r} is not <number><ms|s|m|h|d|w> or 'infinite'")
    return int(match.group(1)) * _RETENTION_UNITS_MS[match.group(2)]


def topic_config(topic: TopicSpec) -> dict[str, Any]:
    config: dict[str, Any] = {
        "retention.ms": retention_ms(topic.retention),
        "cleanup.policy": topic.cleanup_policy,
    }
    if topic.min_in_sync_replicas is not None:
        config["min.insync.replicas"] = topic.min_in_sync_replicas
    return config


def topic_manifests(pipeline: Pipeline) -> list[dict[str, Any]]:
    """One Strimzi KafkaTopic per stream, in the Kafka cluster's namespace."""
    manifests = []
    for stream, topic in pipeline.spec.kafka.topics.items():
        name = naming.topic_name(pipeline.namespace, pipeline.name, stream)
        labels = {
            **pipeline.labels,
            naming.STRIMZI_CLUSTER_LABEL: pipeline.spec.kafka.cluster_ref.name,
            naming.STREAM_LABEL: stream,
        }
        manifests.append(
            {
                "apiVersion": naming.STRIMZI_API_VERSION,
                "kind": "KafkaTopic",
                "metadata": {"name": name, "namespace": pipeline.kafka_namespace, "labels": labels},
                "spec": {
                    "topicName": name,
                    "partitions": topic.partitions,
                    "replicas": topic.replicas,
                    "config": topic_config(topic),
                },
            }
        )
    return manifests


def connector_manifest(pipeline: Pipeline) -> dict[str, Any]:
    """The Strimzi KafkaConnector running the S3 Parquet sink for the pipeline's topics."""
    spec = pipeline.spec
    credentials = secret_credentials(spec, pipeline.namespace)
    labels = {**pipeline.labels, naming.STRIMZI_CLUSTER_LABEL: spec.lake.connect_cluster_ref.name}
    return {
        "apiVersion": naming.STRIMZI_API_VERSION,
        "kind": "KafkaConnector",
        "metadata": {
            "name": naming.connector_name(pipeline.namespace, pipeline.name),
            "namespace": pipeline.connect_namespace,
            "labels": labels,
        },
        "spec": {
            "class": S3_SINK_CLASS,
            "tasksMax": spec.lake.tasks_max,
            "autoRestart": {"enabled": True},
            "config": s3_sink_config(spec, pipeline.namespace, pipeline.name, credentials),
        },
    }


def schema_params(pipeline: Pipeline) -> SchemaParams:
    """What the clickhouse/ templates need from the spec."""
    spec = pipeline.spec
    return SchemaParams(
        database=spec.clickhouse.database,
        retention_days=spec.clickhouse.retention_days,
        streaming_ingest=spec.clickhouse.streaming_ingest,
        kafka_bootstrap=spec.kafka.bootstrap_servers or "",
        kafka_topic=naming.topic_name(pipeline.namespace, pipeline.name, "transactions"),
        kafka_group=f"fraudlake.{pipeline.namespace}.{pipeline.name}.clickhouse",
        rules=tuple(
            RuleParams(
                r.name, r.type, window_minutes=r.window_minutes, min_count=r.min_count, enabled=r.enabled
            )
            for r in spec.rules
        ),
    )


@dataclass
class TopicPlan:
    """What to do with one KafkaTopic: create it, patch its spec, or nothing; and what was refused."""

    name: str
    action: str  # "create", "update" or "none"
    manifest: dict[str, Any]
    refusals: list[str] = field(default_factory=list)


def plan_topic(desired: dict[str, Any], existing: Mapping[str, Any] | None) -> TopicPlan:
    """Compare a desired KafkaTopic with the one in the cluster.

    Partitions only grow: when the existing topic has more partitions than asked for, the plan
    keeps the existing count and records a refusal (Kafka cannot remove partitions).
    """
    name = desired["metadata"]["name"]
    if existing is None:
        return TopicPlan(name, "create", desired)
    current = existing.get("spec") or {}
    spec = dict(desired["spec"])
    refusals = []
    if current.get("partitions", 0) > spec["partitions"]:
        refusals.append(
            f"topic {name} has {current['partitions']} partitions, the spec asks for {spec['partitions']}: "
            "partitions can only grow, keeping " + str(current["partitions"])
        )
        spec["partitions"] = current["partitions"]
    manifest = {**desired, "spec": spec}
    labels = (existing.get("metadata") or {}).get("labels") or {}
    labels_differ = any(labels.get(k) != v for k, v in desired["metadata"]["labels"].items())
    action = "update" if _spec_differs(current, spec) or labels_differ else "none"
    return TopicPlan(name, action, manifest, refusals)


def connector_differs(existing: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    """Whether the KafkaConnector in the cluster needs the desired spec or labels."""
    labels = (existing.get("metadata") or {}).get("labels") or {}
    if any(labels.get(k) != v for k, v in desired["metadata"]["labels"].items()):
        return True
    return _spec_differs(existing.get("spec") or {}, desired["spec"])


def _spec_differs(current: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    # Only the keys we own count: Strimzi or users may add others (e.g. state) without causing churn.
    return any(_normalised(current.get(key)) != _normalised(value) for key, value in desired.items())


def _normalised(value: Any) -> Any:
    # Strimzi accepts topic config numbers as strings or numbers; compare them as text.
    if isinstance(value, Mapping):
        return {k: _normalised(v) for k, v in value.items()}
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return str(value)
    return value
