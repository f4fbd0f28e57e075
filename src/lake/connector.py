"""The S3 Parquet sink configuration of a pipeline: one function for Kubernetes and for local runs.

The sink is Fraudlake's own connector (connectors/s3-parquet-sink): Aiven's S3 sink, which the design
named, is not on Maven Central. Ours reads Aiven's config keys, so a deployment can run Aiven's
connector (built from its GitHub release) by changing only the class to ``AIVEN_S3_SINK_CLASS``.

The operator puts `s3_sink_config(...)` into the pipeline's Strimzi KafkaConnector; the local Kafka
Connect worker gets `connector_properties(...)`, the same settings plus the connector's name, class
and task count (which Strimzi takes from the KafkaConnector's spec instead of its config).

Layout: ``s3://<bucket>/<prefix>/raw/<topic>/<topic id>/<partition>-<start offset>.parquet``, both
numbers zero-padded. The key is fixed by topic, partition and the first offset in the file, so after a
crash the connector rewrites the very same objects (a replay overwrites, never duplicates). The topic
id (Kafka's, which Strimzi reports as the KafkaTopic's ``status.topicId``) is the topic's incarnation:
a topic deleted and recreated restarts at offset 0, and without its id in the key its objects would
overwrite the old incarnation's and the lake loader would take its rows for already loaded. Neither
Aiven's nor Confluent's S3 sink can name objects by topic id (a Connect SinkRecord does not carry
it), so the caller passes the ids (``topic.ids``) and our connector fills ``{{topic_id}}`` from them.
Records carry their schema (JsonConverter with schemas), so Parquet columns are typed. Each row
holds the record as the group column ``value`` plus its Kafka ``offset`` and ``timestamp``
(Aiven's envelope for ``format.output.fields=value,offset,timestamp``): the lake loader
(fraudlake.lake.loader) needs every row's position to load each record exactly once, even when a
replay re-cuts objects, and uses the timestamp as the version of card and user rows.

Credentials: in Kubernetes they are references that Strimzi's KubernetesSecretConfigProvider
resolves inside the Connect worker (``${secrets:<namespace>/<secret>:<key>}``), never the keys
themselves; the KafkaConnect cluster must declare ``config.providers: secrets`` with
``config.providers.secrets.class: io.strimzi.kafka.KubernetesSecretConfigProvider`` and be allowed
to read the Secret (the key settings are PASSWORD-typed, so the worker resolves and hides them). Locally
the caller passes literal keys. With an ``aws.s3.endpoint`` (MinIO) the S3 client uses path-style
addressing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from fraudlake.pipeline import naming
from fraudlake.pipeline.spec import FraudPipelineSpec

S3_SINK_CLASS = "io.fraudlake.connect.s3.S3ParquetSinkConnector"
AIVEN_S3_SINK_CLASS = "io.aiven.kafka.connect.s3.AivenKafkaConnectS3SinkConnector"  # same keys; not deployed
SECRETS_CONFIG_PROVIDER = "secrets"  # the name the KafkaConnect cluster gives Strimzi's provider


@dataclass(frozen=True)
class SecretCredentials:
    """S3 keys held in a Kubernetes Secret, referenced through Strimzi's config provider."""

    namespace: str
    secret: str
    access_key_id_key: str = "AWS_ACCESS_KEY_ID"
    secret_access_key_key: str = "AWS_SECRET_ACCESS_KEY"  # noqa: S105 - the name of a key, not a secret

    def reference(self, key: str) -> str:
        return f"${{{SECRETS_CONFIG_PROVIDER}:{self.namespace}/{self.secret}:{key}}}"


@dataclass(frozen=True)
class LiteralCredentials:
    """S3 keys given directly (local runs only: the local worker's config never leaves the machine)."""

    access_key_id: str
    secret_access_key: str

    def __repr__(self) -> str:
        return "LiteralCredentials(access_key_id=***, secret_access_key=***)"


Credentials = SecretCredentials | LiteralCredentials | None


def lake_prefix(spec: FraudPipelineSpec) -> str:
    """Key prefix under which the sink writes: ``<prefix>/raw/``."""
    return f"{spec.lake.prefix}/raw/"


def object_name_template(spec: FraudPipelineSpec) -> str:
    """``file.name.template`` (Aiven's syntax plus our ``{{topic_id}}``): topic folder, incarnation
    folder, zero-padded partition and start offset."""
    return (
        lake_prefix(spec)
        + "{{topic}}/{{topic_id}}/{{partition:padding=true}}-{{start_offset:padding=true}}.parquet"
    )


_TOPIC_ID = re.compile(r"^[A-Za-z0-9_-]+$")


class MissingTopicIdError(ValueError):
    """A sink topic without its Kafka topic id: the sink could not name its objects."""


def topic_ids_setting(topics: list[str], topic_ids: Mapping[str, str]) -> str:
    """``topic.ids``: ``<topic>=<id>`` for each of `topics`, in their order.

    Raises MissingTopicIdError naming the topics without an id: writing them under no or a stale
    incarnation would mix their objects with another incarnation's.
    """
    missing = [topic for topic in topics if not topic_ids.get(topic)]
    if missing:
        raise MissingTopicIdError(f"no Kafka topic id for sink topic(s) {', '.join(missing)}")
    malformed = [f"{topic}={topic_ids[topic]}" for topic in topics if not _TOPIC_ID.match(topic_ids[topic])]
    if malformed:
        # An id with '/' would add a folder to the object key; Kafka prints URL-safe base64.
        raise MissingTopicIdError(f"not a Kafka topic id (URL-safe base64): {', '.join(malformed)}")
    return ",".join(f"{topic}={topic_ids[topic]}" for topic in topics)


# The record streams, written by the producer in Connect's JSON envelope. Alerts are not among them:
# the API and the stream scorer write them as plain JSON (a Connect envelope there would make every
# alert consumer unwrap it), the lake has no table for them, and they reach ClickHouse through the
# scorer's loader. Sinking them made the sink task fail on the first alert.
LAKE_STREAMS = ("transactions", "cards", "users")


def sink_topics(namespace: str, pipeline: str) -> list[str]:
    """The pipeline's record streams: what the lake keeps."""
    return [naming.topic_name(namespace, pipeline, stream) for stream in LAKE_STREAMS]


def s3_sink_config(
    spec: FraudPipelineSpec,
    namespace: str,
    pipeline: str,
    credentials: Credentials,
    topic_ids: Mapping[str, str],
) -> dict[str, str]:
    """Connector config for the pipeline's lake sink (without name, class and tasks.max).

    `credentials`: SecretCredentials in Kubernetes (only references end up in the config),
    LiteralCredentials locally, None to let the AWS default chain (IRSA) find credentials.
    `topic_ids`: Kafka's topic id of every sink topic (the KafkaTopic's ``status.topicId``);
    MissingTopicIdError when one lacks it.
    """
    lake = spec.lake
    topics = sink_topics(namespace, pipeline)
    config = {
        "topics": ",".join(topics),
        "topic.ids": topic_ids_setting(topics, topic_ids),
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "true",
        "format.output.type": "parquet",
        "format.output.fields": "value,offset,timestamp",
        "format.output.envelope": "true",
        "file.compression.type": "snappy",  # for Parquet: the column codec, not a wrapper around the file
        "file.name.template": object_name_template(spec),
        "file.max.records": str(lake.flush.max_records),
        # An object at least every interval even below max_records (our connector's key; Aiven's
        # connector writes at each offset commit, i.e. the same interval).
        "file.flush.interval.ms": str(lake.flush.interval_seconds * 1000),
        "aws.s3.bucket.name": lake.bucket,
        "aws.s3.region": lake.region,
    }
    if lake.endpoint:
        config["aws.s3.endpoint"] = lake.endpoint.rstrip("/")
        config["aws.s3.path.style.access.enabled"] = "true"
    config.update(_credential_settings(credentials))
    return config


def connector_properties(
    spec: FraudPipelineSpec,
    namespace: str,
    pipeline: str,
    credentials: Credentials,
    topic_ids: Mapping[str, str],
) -> dict[str, str]:
    """The full connector definition for a plain Kafka Connect worker (standalone or REST)."""
    return {
        "name": naming.connector_name(namespace, pipeline),
        "connector.class": S3_SINK_CLASS,
        "tasks.max": str(spec.lake.tasks_max),
        **s3_sink_config(spec, namespace, pipeline, credentials, topic_ids),
    }


def worker_settings(spec: FraudPipelineSpec) -> dict[str, str]:
    """Worker-level settings the sink depends on (the flush interval is a worker setting in Connect)."""
    return {"offset.flush.interval.ms": str(spec.lake.flush.interval_seconds * 1000)}


def secret_credentials(spec: FraudPipelineSpec, pipeline_namespace: str) -> SecretCredentials | None:
    """The pipeline's credential references; the Secret defaults to the Connect cluster's namespace."""
    ref = spec.lake.credentials_secret
    if ref is None:
        return None
    connect_namespace = spec.lake.connect_cluster_ref.namespace or pipeline_namespace
    return SecretCredentials(
        namespace=ref.namespace or connect_namespace,
        secret=ref.name,
        access_key_id_key=ref.access_key_id_key,
        secret_access_key_key=ref.secret_access_key_key,
    )


def _credential_settings(credentials: Credentials) -> dict[str, str]:
    if isinstance(credentials, SecretCredentials):
        return {
            "aws.access.key.id": credentials.reference(credentials.access_key_id_key),
            "aws.secret.access.key": credentials.reference(credentials.secret_access_key_key),
        }
    if isinstance(credentials, LiteralCredentials):
        return {
            "aws.access.key.id": credentials.access_key_id,
            "aws.secret.access.key": credentials.secret_access_key,
        }
    return {}
