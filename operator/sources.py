"""Pure builders for the pipeline's change-data-capture sources (spec.sources): Debezium's PostgreSQL
connector as a Strimzi KafkaConnector, and the compacted KafkaTopics it writes.

Each captured table has its own topic, ``<prefix>.<schema>.<table>`` with the prefix
``fraudlake.<namespace>.<pipeline>.cdc.<source>``: Debezium names topics that way itself, so no routing
transform can get a name wrong. The topics are compacted (the latest row image per primary key is kept,
and a delete's tombstone removes the key), so a consumer that starts late still rebuilds the full current
state of users and cards.

The database settings reach the connector as references to the Secret that
``spec.sources[].databaseSecret`` names (``${secrets:<namespace>/<secret>:<key>}``, resolved inside the
worker by Strimzi's KubernetesSecretConfigProvider, like the lake sink's S3 keys); locally the caller
passes the literal values. Nothing here talks to an API.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fraudlake.operator.builders import Pipeline, topic_config
from fraudlake.pipeline import naming
from fraudlake.pipeline.spec import DatabaseSourceSpec

POSTGRES_CONNECTOR_CLASS = "io.debezium.connector.postgresql.PostgresConnector"
CDC_STREAM_LABEL_PREFIX = "cdc-"  # fraudlake.io/stream of a CDC topic: cdc-<source>.<schema>.<table>
_MAX_PG_IDENTIFIER = 63  # replication slot and publication names are PostgreSQL identifiers


@dataclass(frozen=True)
class DatabaseSettings:
    """Where the connector reaches the database: literal values locally, Secret references in a cluster."""

    hostname: str
    port: str
    dbname: str
    user: str
    password: str


def secret_database_settings(source: DatabaseSourceSpec, connect_namespace: str) -> DatabaseSettings:
    """References to the source's Secret (its namespace defaults to the Connect cluster's)."""
    ref = source.database_secret
    namespace = ref.namespace or connect_namespace

    def key(name: str) -> str:
        return f"${{secrets:{namespace}/{ref.name}:{name}}}"

    return DatabaseSettings(
        hostname=key(ref.host_key),
        port=key(ref.port_key),
        dbname=key(ref.database_key),
        user=key(ref.user_key),
        password=key(ref.password_key),
    )


def topic_prefix(pipeline: Pipeline, source: DatabaseSourceSpec) -> str:
    return naming.cdc_topic_prefix(pipeline.namespace, pipeline.name, source.name)


def table_topic(pipeline: Pipeline, source: DatabaseSourceSpec, table: str) -> str:
    """The topic Debezium writes `table` ('schema.table') to."""
    return naming.cdc_topic(pipeline.namespace, pipeline.name, source.name, table)


def connector_name(pipeline: Pipeline, source: DatabaseSourceSpec) -> str:
    return f"fraudlake.{pipeline.namespace}.{pipeline.name}.cdc-{source.name}"


def replication_name(pipeline: Pipeline, source: DatabaseSourceSpec) -> str:
    """The replication slot's and publication's name: one per pipeline and source, so two pipelines
    capturing the same database never consume each other's slot. PostgreSQL identifiers are lowercase
    [a-z0-9_] and at most 63 bytes; a longer name keeps a digest of the whole."""
    name = re.sub(r"[^a-z0-9_]", "_", f"fraudlake_{pipeline.namespace}_{pipeline.name}_{source.name}")
    if len(name) <= _MAX_PG_IDENTIFIER:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: _MAX_PG_IDENTIFIER - 9]}_{digest}"


def postgres_connector_config(
    pipeline: Pipeline, source: DatabaseSourceSpec, database: DatabaseSettings
) -> dict[str, str]:
    """Debezium PostgreSQL connector config (without name, class and tasks.max).

    pgoutput is PostgreSQL's built-in logical decoding plugin (no server extension to install); the
    publication covers only the captured tables and is created by the connector ("filtered").
    Numeric columns arrive as doubles (credit limits; ClickHouse and the scorer read them as Float64);
    a delete is followed by a tombstone so that compaction forgets the key. Schema changes: pgoutput
    sends each table's current columns with its changes, so an added column flows without a restart.
    """
    slot = replication_name(pipeline, source)
    return {
        "plugin.name": "pgoutput",
        "database.hostname": database.hostname,
        "database.port": database.port,
        "database.dbname": database.dbname,
        "database.user": database.user,
        "database.password": database.password,
        "topic.prefix": topic_prefix(pipeline, source),
        "table.include.list": ",".join(source.tables),
        "snapshot.mode": source.snapshot_mode,
        "slot.name": slot,
        "publication.name": slot,
        "publication.autocreate.mode": "filtered",
        "decimal.handling.mode": "double",
        "time.precision.mode": "connect",
        "tombstones.on.delete": "true",
        # How often the connector hands WAL changes to Kafka: Debezium's 500 ms default is most of the
        # time between a card being blocked in the database and the scorer declining it.
        "poll.interval.ms": "100",
    }


def source_connector_manifest(
    pipeline: Pipeline, source: DatabaseSourceSpec, database: DatabaseSettings | None = None
) -> dict[str, Any]:
    """The Strimzi KafkaConnector running Debezium for one source, next to the lake sink's KafkaConnect.

    `database`: literal settings (local runs); None references the source's Secret."""
    connect = pipeline.spec.lake.connect_cluster_ref
    settings = database or secret_database_settings(source, pipeline.connect_namespace)
    labels = {**pipeline.labels, naming.STRIMZI_CLUSTER_LABEL: connect.name}
    return {
        "apiVersion": naming.STRIMZI_API_VERSION,
        "kind": "KafkaConnector",
        "metadata": {
            "name": connector_name(pipeline, source),
            "namespace": pipeline.connect_namespace,
            "labels": labels,
        },
        "spec": {
            "class": POSTGRES_CONNECTOR_CLASS,
            "tasksMax": 1,  # one replication slot is read by one task
            "autoRestart": {"enabled": True},
            "state": "running",
            "config": postgres_connector_config(pipeline, source, settings),
        },
    }


def source_topic_manifests(pipeline: Pipeline) -> list[dict[str, Any]]:
    """One compacted Strimzi KafkaTopic per captured table of every source, in the Kafka cluster's
    namespace, created before the connector so Debezium never auto-creates one with broker defaults."""
    manifests = []
    for source in pipeline.spec.sources:
        for table in source.tables:
            name = table_topic(pipeline, source, table)
            labels = {
                **pipeline.labels,
                naming.STRIMZI_CLUSTER_LABEL: pipeline.spec.kafka.cluster_ref.name,
                naming.STREAM_LABEL: f"{CDC_STREAM_LABEL_PREFIX}{source.name}.{table}",
            }
            manifests.append(
                {
                    "apiVersion": naming.STRIMZI_API_VERSION,
                    "kind": "KafkaTopic",
                    "metadata": {"name": name, "namespace": pipeline.kafka_namespace, "labels": labels},
                    "spec": {
                        "topicName": name,
                        "partitions": source.topic.partitions,
                        "replicas": source.topic.replicas,
                        "config": topic_config(source.topic),
                    },
                }
            )
    return manifests


def literal_settings(values: Mapping[str, Any]) -> DatabaseSettings:
    """Literal settings from a mapping with host, port, database, user and password (local runs)."""
    return DatabaseSettings(
        hostname=str(values["host"]),
        port=str(values["port"]),
        dbname=str(values["database"]),
        user=str(values["user"]),
        password=str(values["password"]),
    )
