"""The FraudPipeline spec and status as pydantic models: the one source of the CRD's schema.

`fraudlake.operator.crd_schema` turns these models (field types, constraints, defaults, docstrings
and descriptions, CEL rules) into ``crd/fraudpipeline.yaml``; the operator parses custom resources
with the same models. Python names are snake_case, the Kubernetes API sees camelCase aliases.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# Topic retention: a number with a unit, or "infinite" (Kafka's retention.ms=-1).
RETENTION = r"^([1-9][0-9]{0,5}(ms|s|m|h|d|w)|infinite)$"
BOOTSTRAP = r"^[A-Za-z0-9.-]+:[0-9]{1,5}(,[A-Za-z0-9.-]+:[0-9]{1,5})*$"
S3_BUCKET = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
# Segments of S3-safe characters, each holding at least one that is not a dot: "." and ".." would
# let one pipeline's prefix climb into another's (lake.prefix: ../other-tenant). RE2-compatible, so
# the API server enforces the same pattern.
_PREFIX_SEGMENT = r"\.*[A-Za-z0-9!_*'()-][A-Za-z0-9!_.*'()-]*"
S3_PREFIX = rf"^{_PREFIX_SEGMENT}(/{_PREFIX_SEGMENT})*$"
S3_ENDPOINT = r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$"
CLICKHOUSE_DATABASE = r"^[a-z_][a-z0-9_]{0,62}$"
RULE_NAME = r"^[a-z][a-z0-9_]{0,39}$"
DATA_KEY = r"^[-._a-zA-Z0-9]+$"  # a key within a Secret's data
QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$"  # a Kubernetes quantity, the usual suffixes
MODEL_REF = r"^(champion|[A-Za-z0-9][A-Za-z0-9._-]*)$"
TABLE_NAME = r"^[a-z_][a-z0-9_]{0,62}\.[a-z_][a-z0-9_]{0,62}$"  # schema.table, unquoted PostgreSQL names
# An image reference: [registry[:port]/]path[:tag][@sha256:digest].
IMAGE = (
    r"^[a-z0-9][a-z0-9._/-]*(:[0-9]+/[a-z0-9._/-]+)?(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(@sha256:[a-f0-9]{64})?$"
)


def _cel(rule: str, message: str, field_path: str | None = None) -> dict[str, Any]:
    validation: dict[str, Any] = {"rule": rule, "message": message}
    if field_path:
        validation["fieldPath"] = field_path
    return validation


class ApiModel(BaseModel):
    """Base: camelCase on the wire, immutable, unknown fields rejected."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class ClusterRef(ApiModel):
    """A Strimzi cluster (Kafka or KafkaConnect) by name and namespace."""

    name: str = Field(
        min_length=1, max_length=63, pattern=DNS_LABEL, description="Name of the Strimzi resource."
    )
    namespace: str | None = Field(
        default=None,
        max_length=63,
        pattern=DNS_LABEL,
        description="Namespace of the Strimzi resource; defaults to the FraudPipeline's namespace.",
    )


class TopicSpec(ApiModel):
    """Shape of one Kafka topic (a Strimzi KafkaTopic)."""

    partitions: int = Field(
        default=6, ge=1, le=1000, description="Number of partitions. It can grow later but never shrink."
    )
    replicas: int = Field(default=3, ge=1, le=32767, description="Replication factor.")
    min_in_sync_replicas: int | None = Field(
        default=None, ge=1, le=32767, description="min.insync.replicas; unset uses the broker default."
    )
    retention: str = Field(
        default="7d",
        max_length=16,
        pattern=RETENTION,
        description="How long records are kept: a number with a unit (ms, s, m, h, d, w) or 'infinite'.",
    )
    cleanup_policy: Literal["delete", "compact", "compact,delete"] = Field(
        default="delete", description="Kafka cleanup.policy."
    )

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    "!has(self.minInSyncReplicas) || self.minInSyncReplicas <= self.replicas",
                    "minInSyncReplicas must not exceed replicas",
                    ".minInSyncReplicas",
                ),
                _cel("self.partitions >= oldSelf.partitions", "partitions can only grow", ".partitions"),
            ]
        }
    )


class EntityTopicSpec(TopicSpec):
    """Shape of a topic of entities keyed by id (compacted; the latest record per key is kept)."""

    partitions: int = Field(
        default=3, ge=1, le=1000, description="Number of partitions. It can grow later but never shrink."
    )
    retention: str = Field(
        default="infinite",
        max_length=16,
        pattern=RETENTION,
        description="How long records are kept: a number with a unit (ms, s, m, h, d, w) or 'infinite'.",
    )
    cleanup_policy: Literal["delete", "compact", "compact,delete"] = Field(
        default="compact", description="Kafka cleanup.policy."
    )


class TopicsSpec(ApiModel):
    """The pipeline's four streams; each becomes the topic fraudlake.<namespace>.<pipeline>.<stream>."""

    transactions: TopicSpec = Field(default=TopicSpec(), description="Card transactions (keyed by card_id).")
    cards: EntityTopicSpec = Field(default=EntityTopicSpec(), description="Cards (keyed by card_id).")
    users: EntityTopicSpec = Field(default=EntityTopicSpec(), description="Users (keyed by user_id).")
    alerts: TopicSpec = Field(default=TopicSpec(), description="Fraud alerts raised by scoring and rules.")

    def items(self) -> list[tuple[str, TopicSpec]]:
        return [
            ("transactions", self.transactions),
            ("cards", self.cards),
            ("users", self.users),
            ("alerts", self.alerts),
        ]


class KafkaSpec(ApiModel):
    """Where the pipeline's topics live."""

    cluster_ref: ClusterRef = Field(
        description="The Strimzi Kafka cluster; its namespace is where the KafkaTopics are created."
    )
    brokers: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description="Number of brokers in the cluster; when set, replicas above it are rejected.",
    )
    bootstrap_servers: str | None = Field(
        default=None,
        max_length=1024,
        pattern=BOOTSTRAP,
        description="host:port[,host:port] where ClickHouse reaches Kafka; for clickhouse.streamingIngest.",
    )
    topics: TopicsSpec = Field(default=TopicsSpec(), description="Per-stream topic settings.")

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    "!has(self.brokers) || [self.topics.transactions.replicas, self.topics.cards.replicas,"
                    " self.topics.users.replicas, self.topics.alerts.replicas].all(r, r <= self.brokers)",
                    "topic replicas must not exceed kafka.brokers",
                ),
                _cel("self.clusterRef == oldSelf.clusterRef", "kafka.clusterRef is immutable", ".clusterRef"),
            ]
        }
    )


class CredentialsSecretRef(ApiModel):
    """A Secret with S3 credentials; the connector reads it through Strimzi's config provider."""

    name: str = Field(min_length=1, max_length=253, description="Secret name.")
    namespace: str | None = Field(
        default=None,
        max_length=63,
        pattern=DNS_LABEL,
        description="Secret namespace; defaults to the Kafka Connect cluster's namespace.",
    )
    access_key_id_key: str = Field(
        default="AWS_ACCESS_KEY_ID",
        max_length=253,
        pattern=DATA_KEY,
        description="Key holding the access key id.",
    )
    secret_access_key_key: str = Field(
        default="AWS_SECRET_ACCESS_KEY",
        max_length=253,
        pattern=DATA_KEY,
        description="Key holding the secret key.",
    )


class FlushSpec(ApiModel):
    """When the sink writes a Parquet object."""

    max_records: int = Field(
        default=10000,
        ge=1,
        le=1_000_000,
        description="Records per Parquet object at most (file.max.records).",
    )
    interval_seconds: int = Field(
        default=60,
        ge=1,
        le=3600,
        description="Commit interval of the Kafka Connect worker (offset.flush.interval.ms); a worker-wide "
        "setting the KafkaConnect cluster must carry, recorded here for the local worker.",
    )


class LakeSpec(ApiModel):
    """Kafka → object store: the Aiven S3 sink writing Parquet (a Strimzi KafkaConnector)."""

    connect_cluster_ref: ClusterRef = Field(
        description="The Strimzi KafkaConnect cluster; the KafkaConnector is created in its namespace."
    )
    bucket: str = Field(min_length=3, max_length=63, pattern=S3_BUCKET, description="Existing S3 bucket.")
    prefix: str = Field(
        default="fraudlake",
        min_length=1,
        max_length=256,
        pattern=S3_PREFIX,
        description="Key prefix, without leading or trailing '/'; objects land under <prefix>/raw/<topic>/.",
    )
    endpoint: str | None = Field(
        default=None,
        max_length=256,
        pattern=S3_ENDPOINT,
        description="S3 endpoint URL for MinIO and other S3-compatible stores (path-style); unset: AWS S3.",
    )
    region: str = Field(default="us-east-1", max_length=32, pattern=r"^[a-z0-9-]+$", description="S3 region.")
    credentials_secret: CredentialsSecretRef | None = Field(
        default=None, description="S3 credentials; unset: the AWS default chain (e.g. IRSA on EKS)."
    )
    flush: FlushSpec = Field(default=FlushSpec(), description="Flush settings.")
    tasks_max: int = Field(default=1, ge=1, le=64, description="Connector tasks.")


class SecretKeyRef(ApiModel):
    """One key of a Secret in the FraudPipeline's namespace."""

    name: str = Field(min_length=1, max_length=253, description="Secret name.")
    key: str = Field(default="dsn", max_length=253, pattern=DATA_KEY, description="Key within the Secret.")


class DatabaseSecretRef(ApiModel):
    """A Secret with the database's connection settings; the connector reads it through Strimzi's config
    provider, so only references end up in the KafkaConnector."""

    name: str = Field(min_length=1, max_length=253, description="Secret name.")
    namespace: str | None = Field(
        default=None,
        max_length=63,
        pattern=DNS_LABEL,
        description="Secret namespace; defaults to the Kafka Connect cluster's namespace.",
    )
    host_key: str = Field(default="host", max_length=253, pattern=DATA_KEY, description="Key of the host.")
    port_key: str = Field(default="port", max_length=253, pattern=DATA_KEY, description="Key of the port.")
    database_key: str = Field(
        default="database", max_length=253, pattern=DATA_KEY, description="Key of the database name."
    )
    user_key: str = Field(
        default="user",
        max_length=253,
        pattern=DATA_KEY,
        description="Key of the user (needs REPLICATION and, for the publication, CREATE on the database).",
    )
    password_key: str = Field(
        default="password", max_length=253, pattern=DATA_KEY, description="Key of the password."
    )


class DatabaseSourceSpec(ApiModel):
    """Change data capture from a PostgreSQL database: Debezium's connector (a Strimzi KafkaConnector on
    the lake's KafkaConnect) writes every change of the listed tables to a compacted topic per table,
    fraudlake.<namespace>.<pipeline>.cdc.<name>.<schema>.<table>."""

    name: str = Field(
        min_length=1,
        max_length=20,
        pattern=DNS_LABEL,
        description="Source name, part of its topics', connector's and replication slot's names.",
    )
    type: Literal["PostgreSQL"] = Field(default="PostgreSQL", description="Database kind.")
    database_secret: DatabaseSecretRef = Field(description="Connection settings (a Secret).")
    tables: tuple[Annotated[str, Field(max_length=127, pattern=TABLE_NAME)], ...] = Field(
        min_length=1,
        max_length=32,
        description="Captured tables as schema.table, e.g. public.cards; each needs a primary key.",
    )
    snapshot_mode: Literal["initial", "no_data", "when_needed", "initial_only", "always"] = Field(
        default="initial",
        description="Debezium snapshot.mode: initial reads the tables once, then streams changes; "
        "no_data streams changes only; when_needed snapshots again if the slot's position is lost.",
    )
    topic: EntityTopicSpec = Field(
        default=EntityTopicSpec(), description="Shape of each table's topic (compacted by default)."
    )

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    "self.tables.all(t, self.tables.exists_one(u, u == t))",
                    "tables must be unique",
                    ".tables",
                ),
                _cel("self.name == oldSelf.name", "a source's name is immutable", ".name"),
            ]
        }
    )


class ClickHouseSpec(ApiModel):
    """The pipeline's ClickHouse database (tables from clickhouse/*.sql)."""

    endpoint_secret: SecretKeyRef = Field(
        description="Secret holding the DSN: http(s)://user:password@host:port, or chdb:///path locally."
    )
    database: str = Field(
        min_length=1,
        max_length=63,
        pattern=CLICKHOUSE_DATABASE,
        description="Database for the pipeline's tables; immutable.",
    )
    retention_days: int = Field(
        default=0,
        ge=0,
        le=36500,
        description="TTL of transactions by event time in days; 0 keeps everything (historical replays "
        "such as the 2002-2020 TabFormer data would otherwise expire at once).",
    )
    streaming_ingest: bool = Field(
        default=False,
        description="Also consume the transactions topic directly (Kafka engine) into transactions_rt.",
    )

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    "!(self.database in ['system', 'default', 'information_schema'])",
                    "clickhouse.database must not be a system database",
                    ".database",
                ),
                _cel("self.database == oldSelf.database", "clickhouse.database is immutable", ".database"),
            ]
        }
    )


class Rule(ApiModel):
    """A windowed fraud rule, materialized as the ClickHouse view rule_<name>."""

    name: str = Field(
        min_length=1, max_length=40, pattern=RULE_NAME, description="Rule name (lowercase, digits, '_')."
    )
    type: Literal["SpendBurst", "Velocity"] = Field(
        description="SpendBurst: count ≥ minCount and total above the user's average spending. "
        "Velocity: count ≥ minCount."
    )
    window_minutes: int = Field(ge=1, le=1440, description="Tumbling window length in minutes.")
    min_count: int = Field(
        ge=1, le=100000, description="Transactions per card and window that trigger the rule."
    )
    enabled: bool = Field(default=True, description="Disabled rules have no view.")


SEED_RULES = (
    Rule(name="spend_burst_10m", type="SpendBurst", window_minutes=10, min_count=2),
    Rule(name="velocity_5m", type="Velocity", window_minutes=5, min_count=11),
)


class ResourceList(ApiModel):
    """CPU and memory, as Kubernetes quantities."""

    cpu: str | None = Field(default=None, max_length=32, pattern=QUANTITY, description="CPU, e.g. 500m or 2.")
    memory: str | None = Field(
        default=None, max_length=32, pattern=QUANTITY, description="Memory, e.g. 512Mi or 2Gi."
    )


class ResourceRequirements(ApiModel):
    """A container's requests and limits; a key left unset takes the operator's default (Helm values)."""

    requests: ResourceList | None = Field(default=None, description="What the scheduler reserves.")
    limits: ResourceList | None = Field(default=None, description="What the container may use at most.")

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    f"!has(self.requests) || !has(self.limits) || !has(self.requests.{key})"
                    f" || !has(self.limits.{key})"
                    f" || !quantity(self.requests.{key}).isGreaterThan(quantity(self.limits.{key}))",
                    f"scoring.resources.requests.{key} must not exceed scoring.resources.limits.{key}",
                    f".requests.{key}",
                )
                for key in ("cpu", "memory")
            ]
        }
    )


class ScoringThresholds(ApiModel):
    """Overrides of the model's decision thresholds; unset: the thresholds the model was trained with."""

    review: float | None = Field(
        default=None, gt=0, lt=1, description="Fraud probability from which a transaction goes to review."
    )
    decline: float | None = Field(
        default=None, gt=0, lt=1, description="Fraud probability from which a transaction is declined."
    )

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    "!has(self.review) || !has(self.decline) || self.decline > self.review",
                    "scoring.thresholds.decline must be greater than scoring.thresholds.review",
                    ".decline",
                )
            ]
        }
    )


class ScoringSpec(ApiModel):
    """The stream scorer: a Deployment deciding every transaction of the pipeline's topic."""

    replicas: int = Field(
        # Off by default: a new pipeline has no champion model yet (models are trained from the lake the
        # pipeline fills), and a scorer without a model cannot start. Turn it on once a model is promoted.
        default=0,
        ge=0,
        le=1000,
        description="Scorer pods; 0 turns the scorer off. At most the transactions topic's partitions "
        "(each partition is scored by one pod; more pods would idle).",
    )
    model: str = Field(
        default="champion",
        min_length=1,
        max_length=64,
        pattern=MODEL_REF,
        description="Model to serve: 'champion' (followed as it is promoted) or a pinned version.",
    )
    thresholds: ScoringThresholds = Field(
        default=ScoringThresholds(), description="Decision threshold overrides."
    )
    threshold: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="Deprecated: the former alert threshold, now read as thresholds.review (set only one).",
    )
    resources: ResourceRequirements | None = Field(
        default=None, description="Requests and limits of each scorer pod; unset: the operator's defaults."
    )
    image: str | None = Field(
        default=None,
        max_length=512,
        pattern=IMAGE,
        description="Scorer image override (repository:tag or repository@sha256:...); unset: the operator's.",
    )

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    "!has(self.threshold) || !has(self.thresholds) || !has(self.thresholds.review)",
                    "scoring.threshold is the deprecated name of scoring.thresholds.review: set only one",
                    ".threshold",
                ),
                _cel(
                    "!has(self.threshold) || !has(self.thresholds) || !has(self.thresholds.decline)"
                    " || self.thresholds.decline > self.threshold",
                    "scoring.thresholds.decline must be greater than scoring.threshold (the deprecated "
                    "name of the review threshold)",
                    ".thresholds.decline",
                ),
            ]
        }
    )

    @property
    def review_threshold(self) -> float | None:
        """The review threshold override, from thresholds.review or the deprecated threshold."""
        return self.thresholds.review if self.thresholds.review is not None else self.threshold


class FraudPipelineSpec(ApiModel):
    """Desired state of a fraud-detection pipeline: topics, lake sink, ClickHouse tables and rules."""

    kafka: KafkaSpec = Field(description="Kafka topics (Strimzi KafkaTopics).")
    lake: LakeSpec = Field(description="Kafka → S3/MinIO Parquet sink (Strimzi KafkaConnector).")
    clickhouse: ClickHouseSpec = Field(description="ClickHouse database and tables.")
    rules: tuple[Rule, ...] = Field(
        default=SEED_RULES, max_length=16, description="Windowed fraud rules; defaults to the two seed rules."
    )
    scoring: ScoringSpec = Field(default=ScoringSpec(), description="The stream scorer (a Deployment).")
    sources: tuple[DatabaseSourceSpec, ...] = Field(
        default=(),
        max_length=8,
        description="Databases whose changes are captured into Kafka (Debezium KafkaConnectors).",
        # A list keyed by name: the API server matches old and new items by it, which the items' own
        # transition rules (oldSelf: immutable name, partitions only grow) need to be accepted at all.
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    deletion_policy: Literal["Retain", "Delete"] = Field(
        default="Retain",
        description="On deletion, Retain keeps topics, connector and tables; Delete removes them and drops "
        "the ClickHouse database, but only a database this pipeline owns (the operator records the owner "
        "in the database when it creates or first adopts it; a database another pipeline owns is never "
        "reconciled nor dropped). Delete can be chosen only when the pipeline is created: an update may "
        "change Delete to Retain, never Retain to Delete (to drop a retained pipeline's data, drop the "
        "database by hand).",
    )

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    "self.rules.all(r, self.rules.exists_one(s, s.name == r.name))",
                    "rule names must be unique",
                    ".rules",
                ),
                _cel(
                    "self.sources.all(r, self.sources.exists_one(s, s.name == r.name))",
                    "source names must be unique",
                    ".sources",
                ),
                _cel(
                    "!self.clickhouse.streamingIngest || has(self.kafka.bootstrapServers)",
                    "clickhouse.streamingIngest needs kafka.bootstrapServers (how ClickHouse reaches Kafka)",
                    ".kafka",
                ),
                _cel(
                    "self.scoring.replicas <= self.kafka.topics.transactions.partitions",
                    "scoring.replicas must not exceed kafka.topics.transactions.partitions (one pod per "
                    "partition at most; more would idle)",
                    ".scoring.replicas",
                ),
                _cel(
                    "!has(self.lake.endpoint) || has(self.lake.credentialsSecret)",
                    "lake.endpoint (an S3-compatible store) needs lake.credentialsSecret",
                    ".lake",
                ),
                # A transition rule: runs on updates only, so a pipeline may be created with Delete.
                _cel(
                    "self.deletionPolicy == oldSelf.deletionPolicy || self.deletionPolicy == 'Retain'",
                    "deletionPolicy can change to Delete only at creation (an update may only change Delete "
                    "to Retain): a pipeline whose data was retained does not become one that drops it",
                    ".deletionPolicy",
                ),
            ]
        }
    )

    @classmethod
    def parse(cls, spec: dict[str, Any]) -> FraudPipelineSpec:
        """Validate a custom resource's ``spec`` (raises pydantic.ValidationError)."""
        return cls.model_validate(dict(spec))
