"""Names of a pipeline's things: the CRD, its Kafka topics and connector, child labels.

The producer writes to the topics, the operator creates them (Strimzi `KafkaTopic`), the API and the
lake read them: all of them call `topic_name` and never format the string themselves.

Children may live in other namespaces (Strimzi's topic operator watches the Kafka cluster's
namespace, a KafkaConnector must sit next to its KafkaConnect), and owner references cannot cross
namespaces, so children are found again by the labels below rather than by ownership.
"""

from __future__ import annotations

import re

GROUP = "fraudlake.io"
VERSION = "v1alpha1"
PLURAL = "fraudpipelines"
KIND = "FraudPipeline"
API_VERSION = f"{GROUP}/{VERSION}"

STRIMZI_GROUP = "kafka.strimzi.io"
STRIMZI_VERSION = "v1"
STRIMZI_API_VERSION = f"{STRIMZI_GROUP}/{STRIMZI_VERSION}"
STRIMZI_CLUSTER_LABEL = "strimzi.io/cluster"

FINALIZER = "fraudlake.io/finalizer"
PAUSE_ANNOTATION = "fraudlake.io/pause-reconciliation"
# Comma-separated topic ids (or, for a topic whose id was never recorded, KafkaTopic names) whose
# incarnation may be replaced by a recreated topic (fraudlake.operator.incarnations).
ACCEPT_TOPIC_RECREATION_ANNOTATION = "fraudlake.io/accept-topic-recreation"

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "fraudlake-operator"
PIPELINE_LABEL = "fraudlake.io/pipeline"
PIPELINE_NAMESPACE_LABEL = "fraudlake.io/pipeline-namespace"
STREAM_LABEL = "fraudlake.io/stream"

# The pipeline's streams, in the order topics are reported.
STREAMS: tuple[str, ...] = ("transactions", "cards", "users", "alerts")
# Streams the stream scorer writes (one decision per transaction; inputs it cannot read, with the
# reason). Kept apart from STREAMS: the spec configures STREAMS only (the operator shapes these two after
# the transactions topic) and the lake sinks none of them.
SCORER_STREAMS: tuple[str, ...] = ("decisions", "deadletter")
# Streams the lake sink writes: records it could not convert or write (its dead-letter queue, with the
# error in the record's headers). Kept apart like SCORER_STREAMS: the operator shapes it after the
# transactions topic, and nothing sinks it.
SINK_DEADLETTER = "lake-deadletter"
SINK_STREAMS: tuple[str, ...] = (SINK_DEADLETTER,)
# Every stream that has a topic, in the order the operator reports them.
ALL_STREAMS: tuple[str, ...] = STREAMS + SCORER_STREAMS + SINK_STREAMS


# Kafka accepts [a-zA-Z0-9._-]; Kubernetes names (namespace, pipeline) are stricter (RFC 1123),
# so a valid pipeline always yields a valid topic.
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_MAX_TOPIC_LENGTH = 249


def topic_name(namespace: str, pipeline: str, stream: str) -> str:
    """Kafka topic (and KafkaTopic object) name: ``fraudlake.<namespace>.<pipeline>.<stream>``.

    Raises ValueError on a stream the pipeline does not have, or names Kafka or Kubernetes reject.
    """
    if stream not in ALL_STREAMS:
        raise ValueError(f"unknown stream {stream!r}; expected one of {', '.join(ALL_STREAMS)}")
    for what, value in (("namespace", namespace), ("pipeline", pipeline)):
        if not _DNS_LABEL.match(value):
            raise ValueError(
                f"{what} {value!r} is not a lowercase DNS label ([a-z0-9-], no leading/trailing -)"
            )
    name = f"fraudlake.{namespace}.{pipeline}.{stream}"
    if len(name) > _MAX_TOPIC_LENGTH:
        raise ValueError(f"topic name {name!r} is longer than Kafka's {_MAX_TOPIC_LENGTH} characters")
    return name


def pipeline_topics(namespace: str, pipeline: str) -> dict[str, str]:
    """Every stream's topic of one pipeline, keyed by stream."""
    return {stream: topic_name(namespace, pipeline, stream) for stream in STREAMS}


CARDS_TABLE = "cards"  # a captured table of this name (any schema) holds the bank's card statuses


def cdc_topic_prefix(namespace: str, pipeline: str, source: str) -> str:
    """Debezium's topic.prefix for a pipeline's CDC source (its topics: ``<prefix>.<schema>.<table>``)."""
    return f"fraudlake.{namespace}.{pipeline}.cdc.{source}"


def cdc_topic(namespace: str, pipeline: str, source: str, table: str) -> str:
    """The topic Debezium writes a captured table ('schema.table') of a pipeline's source to."""
    return f"{cdc_topic_prefix(namespace, pipeline, source)}.{table}"


def connector_name(namespace: str, pipeline: str) -> str:
    """KafkaConnector (and Connect connector) name of the pipeline's lake sink."""
    return f"fraudlake.{namespace}.{pipeline}.lake-sink"


def child_labels(namespace: str, pipeline: str) -> dict[str, str]:
    """Labels on every child object, so the pipeline finds its children across namespaces."""
    return {
        MANAGED_BY_LABEL: MANAGED_BY,
        PIPELINE_LABEL: pipeline,
        PIPELINE_NAMESPACE_LABEL: namespace,
    }


def child_selector(namespace: str, pipeline: str) -> str:
    """Label selector matching exactly the children of one pipeline."""
    return ",".join(f"{key}={value}" for key, value in child_labels(namespace, pipeline).items())


def owner_of(labels: dict[str, str] | None) -> tuple[str, str] | None:
    """(namespace, name) of the pipeline a child belongs to, from its labels; None if not ours."""
    labels = labels or {}
    if labels.get(MANAGED_BY_LABEL) != MANAGED_BY:
        return None
    namespace, name = labels.get(PIPELINE_NAMESPACE_LABEL), labels.get(PIPELINE_LABEL)
    return (namespace, name) if namespace and name else None
