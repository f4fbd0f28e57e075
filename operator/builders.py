"""Pure builders: a pipeline spec in, Kubernetes manifests and ClickHouse parameters out.

Nothing here talks to an API; `fraudlake.operator.children` and `fraudlake.operator.tables` do.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from fraudlake.clickhouse.migrations import RuleParams, SchemaParams
from fraudlake.lake.connector import S3_SINK_CLASS, s3_sink_config, secret_credentials
from fraudlake.operator.settings import OperatorSettings
from fraudlake.pipeline import naming
from fraudlake.pipeline import scorer_env as scorer_env_names
from fraudlake.pipeline.spec import FraudPipelineSpec, TopicSpec

# The scorer's children carry the hash of the manifest they were made from: comparing hashes tells
# whether our part of an object changed without diffing against everything the API server defaults.
SPEC_HASH_ANNOTATION = "fraudlake.io/spec-hash"
SCORER_STATE_DIR = "/var/lib/fraudlake-scorer"  # RocksDB state; an emptyDir rebuilt from changelogs
_RETENTION_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


@dataclass(frozen=True)
class Pipeline:
    """One FraudPipeline as the reconcilers see it."""

    namespace: str
    name: str
    generation: int
    spec: FraudPipelineSpec
    uid: str = ""  # metadata.uid, recorded as the owner of the ClickHouse database
    # Topic incarnations the accept-topic-recreation annotation gives up (fraudlake.operator.incarnations).
    accepted_recreations: frozenset[str] = frozenset()

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


def scorer_topics(spec: FraudPipelineSpec) -> list[tuple[str, TopicSpec]]:
    """The stream scorer's output topics, shaped after the transactions topic (the spec has no section
    for them): decisions get its partitions (one decision per transaction, keyed by card like it), the
    deadletter one partition; both its replicas, min.insync.replicas and retention, and never compaction
    (a compacted decisions topic would keep only each card's last decision)."""
    transactions = spec.kafka.topics.transactions.model_copy(update={"cleanup_policy": "delete"})
    return [("decisions", transactions), ("deadletter", transactions.model_copy(update={"partitions": 1}))]


def sink_topics(spec: FraudPipelineSpec) -> list[tuple[str, TopicSpec]]:
    """The lake sink's dead-letter topic, shaped after the transactions topic like the scorer's: one
    partition (a trickle of bad records, read in order by whoever investigates), its replicas,
    min.insync.replicas and retention, never compaction (the records carry no useful key)."""
    transactions = spec.kafka.topics.transactions
    deadletter = transactions.model_copy(update={"cleanup_policy": "delete", "partitions": 1})
    return [(naming.SINK_DEADLETTER, deadletter)]


def topic_manifests(pipeline: Pipeline) -> list[dict[str, Any]]:
    """One Strimzi KafkaTopic per stream (spec.kafka.topics), per scorer output stream
    (`naming.SCORER_STREAMS`, created whether the scorer runs or not) and for the lake sink's dead letters
    (`naming.SINK_STREAMS`), in the Kafka cluster's namespace."""
    manifests = []
    spec = pipeline.spec
    for stream, topic in [*spec.kafka.topics.items(), *scorer_topics(spec), *sink_topics(spec)]:
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


def sink_error_config(pipeline: Pipeline) -> dict[str, str]:
    """Error handling of the lake sink: one poison record must not stop the lake.

    Records the converter cannot read (not JSON) or the sink cannot write (no schema, a type Parquet
    does not take: the task reports them through Connect's ErrantRecordReporter) are skipped and
    produced, unchanged, to the pipeline's dead-letter topic with the error in ``__connect.errors.*``
    headers (topic, partition, offset, stage, exception); the failure is logged without the record
    (it may carry card data; the topic keeps it). The operator creates the topic; the replication
    factor is the transactions topic's (bounded by kafka.brokers), used only if Connect has to create it.
    Skipped records show in Connect's task-error-metrics (total-records-skipped, deadletterqueue-produce-
    requests), which the fraudlake-kafka chart's PrometheusRule alerts on.
    """
    spec = pipeline.spec
    return {
        "errors.tolerance": "all",
        "errors.deadletterqueue.topic.name": naming.topic_name(
            pipeline.namespace, pipeline.name, naming.SINK_DEADLETTER
        ),
        "errors.deadletterqueue.topic.replication.factor": str(spec.kafka.topics.transactions.replicas),
        "errors.deadletterqueue.context.headers.enable": "true",
        "errors.log.enable": "true",
        "errors.log.include.messages": "false",
    }


def connector_manifest(
    pipeline: Pipeline, topic_ids: Mapping[str, str], stopped: bool = False
) -> dict[str, Any]:
    """The Strimzi KafkaConnector running the S3 Parquet sink for the pipeline's topics, with a
    dead-letter queue for the records it cannot sink (`sink_error_config`).

    `topic_ids`: the accepted Kafka topic id of each sink topic (``status.topicIds``); the sink names
    objects by it (MissingTopicIdError when one is missing). `stopped`: a sink topic is not its
    accepted incarnation (recreated, refused); the sink must not write its offsets under the old id."""
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
            "state": "stopped" if stopped else "running",
            "config": {
                **s3_sink_config(spec, pipeline.namespace, pipeline.name, credentials, topic_ids),
                **sink_error_config(pipeline),
            },
        },
    }


def schema_params(pipeline: Pipeline) -> SchemaParams:
    """What the clickhouse/ templates need from the spec."""
    spec = pipeline.spec
    return SchemaParams(
        database=spec.clickhouse.database,
        retention_days=spec.clickhouse.retention_days,
        streaming_ingest=spec.clickhouse.streaming_ingest,
        change_data_capture=bool(spec.sources),
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


# --- the stream scorer: ServiceAccount, PodDisruptionBudget and Deployment -----------------------------


def scorer_name(pipeline: Pipeline) -> str:
    """Name of the scorer's Deployment, ServiceAccount and PodDisruptionBudget (pipeline names are
    at most 40 characters, so this stays a valid name)."""
    return f"{pipeline.name}-scorer"


def scorer_selector_labels(pipeline: Pipeline) -> dict[str, str]:
    """The Deployment's pod selector: immutable once created, so only what never changes."""
    return {"app.kubernetes.io/name": "fraudlake-scorer", "app.kubernetes.io/instance": pipeline.name}


def scorer_labels(pipeline: Pipeline) -> dict[str, str]:
    return {
        **pipeline.labels,
        **scorer_selector_labels(pipeline),
        "app.kubernetes.io/component": "scorer",
        "app.kubernetes.io/part-of": "fraudlake",
    }


def kafka_bootstrap(pipeline: Pipeline) -> str:
    """Where the scorer reaches Kafka: spec.kafka.bootstrapServers, else the bootstrap Service Strimzi
    creates for the cluster (plain listener, port 9092)."""
    kafka = pipeline.spec.kafka
    if kafka.bootstrap_servers:
        return kafka.bootstrap_servers
    return f"{kafka.cluster_ref.name}-kafka-bootstrap.{pipeline.kafka_namespace}.svc:9092"


def scorer_resources(pipeline: Pipeline, settings: OperatorSettings) -> dict[str, dict[str, str]]:
    """The operator's default requests and limits with spec.scoring.resources laid over key by key.

    A default never contradicts what the pipeline set (the API server refuses a request above its limit):
    a request raised above the default limit raises that limit, a limit lowered below the default
    request lowers that request. A pipeline setting both is held to requests ≤ limits by the CRD.
    """
    override = pipeline.spec.scoring.resources
    explicit: dict[str, dict[str, str]] = {}
    merged: dict[str, dict[str, str]] = {}
    for part in ("requests", "limits"):
        chosen = getattr(override, part, None) if override else None
        explicit[part] = chosen.model_dump(exclude_none=True) if chosen else {}
        merged[part] = {**settings.scorer_resources.get(part, {}), **explicit[part]}
    requests, limits = merged["requests"], merged["limits"]
    for key in requests.keys() & limits.keys():
        request, limit = quantity_value(requests[key]), quantity_value(limits[key])
        if request is None or limit is None or request <= limit:
            continue
        if key in explicit["requests"] and key not in explicit["limits"]:
            limits[key] = requests[key]
        elif key in explicit["limits"] and key not in explicit["requests"]:
            requests[key] = limits[key]
    return {part: values for part, values in merged.items() if values}


_QUANTITY = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?")
_QUANTITY_FACTORS: dict[str | None, Decimal] = {
    None: Decimal(1),
    "m": Decimal("0.001"),
    **{suffix: Decimal(1000) ** power for power, suffix in enumerate("kMGTPE", start=1)},
    **{f"{suffix}i": Decimal(1024) ** power for power, suffix in enumerate("KMGTPE", start=1)},
}


def quantity_value(text: str) -> Decimal | None:
    """A Kubernetes quantity ('500m', '2', '1.5Gi') as a number; None for a form this does not read."""
    match = _QUANTITY.fullmatch(str(text).strip())
    if not match:
        return None
    return Decimal(match.group(1)) * _QUANTITY_FACTORS[match.group(2)]


def cdc_topics(pipeline: Pipeline) -> list[str]:
    """The topics of every captured table: the scorer declines the cards its cards tables stop and loads
    the tables ClickHouse keeps (clickhouse/140, 141) into ClickHouse."""
    return [
        naming.cdc_topic(pipeline.namespace, pipeline.name, source.name, table)
        for source in pipeline.spec.sources
        for table in source.tables
    ]


def scorer_env(pipeline: Pipeline, settings: OperatorSettings) -> list[dict[str, Any]]:
    """The scorer's environment: Kafka, the model registry and choice, thresholds, rules, ClickHouse."""
    scoring, clickhouse = pipeline.spec.scoring, pipeline.spec.clickhouse
    plain: dict[str, str | None] = {
        scorer_env_names.KAFKA_BOOTSTRAP: kafka_bootstrap(pipeline),
        scorer_env_names.MODEL_URI: settings.scorer_model_uri,
        scorer_env_names.S3_ENDPOINT: settings.scorer_s3_endpoint,
        scorer_env_names.MODEL: scoring.model,
        scorer_env_names.REVIEW_THRESHOLD: _number(scoring.review_threshold),
        scorer_env_names.DECLINE_THRESHOLD: _number(scoring.thresholds.decline),
        scorer_env_names.RULES: json.dumps(
            [rule.model_dump(by_alias=True) for rule in pipeline.spec.rules], separators=(",", ":")
        ),
        scorer_env_names.METRICS_PORT: str(settings.scorer_metrics_port),
        scorer_env_names.STATE_DIR: SCORER_STATE_DIR,
        scorer_env_names.CLICKHOUSE_DATABASE: clickhouse.database,
        scorer_env_names.OTLP_ENDPOINT: settings.scorer_otlp_endpoint,
        scorer_env_names.CDC_TOPICS: ",".join(cdc_topics(pipeline)) or None,
    }
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in plain.items() if v is not None]
    dsn = {"name": clickhouse.endpoint_secret.name, "key": clickhouse.endpoint_secret.key}
    env.append({"name": scorer_env_names.CLICKHOUSE_DSN, "valueFrom": {"secretKeyRef": dsn}})
    return env


def scorer_manifests(pipeline: Pipeline, settings: OperatorSettings) -> list[dict[str, Any]]:
    """ServiceAccount, PodDisruptionBudget and Deployment of the pipeline's scorer, each stamped with
    its hash; in the pipeline's namespace (the DSN Secret it reads lives there)."""
    return [
        _stamped(manifest)
        for manifest in (
            scorer_service_account(pipeline, settings),
            scorer_disruption_budget(pipeline),
            scorer_deployment(pipeline, settings),
        )
    ]


def scorer_service_account(pipeline: Pipeline, settings: OperatorSettings) -> dict[str, Any]:
    metadata = _scorer_metadata(pipeline)
    if settings.scorer_service_account_annotations:
        metadata["annotations"] = dict(settings.scorer_service_account_annotations)
    # The scorer never calls the Kubernetes API: no token in its pods.
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata,
        "automountServiceAccountToken": False,
    }


def scorer_disruption_budget(pipeline: Pipeline) -> dict[str, Any]:
    # One pod at a time: each eviction moves its partitions to the others in one rebalance, and a
    # one-replica scorer still lets a node drain.
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _scorer_metadata(pipeline),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": scorer_selector_labels(pipeline)}},
    }


def scorer_deployment(pipeline: Pipeline, settings: OperatorSettings) -> dict[str, Any]:
    """The scorer Deployment: non-root, read-only root filesystem, probes on the metrics port."""
    scoring = pipeline.spec.scoring
    port = settings.scorer_metrics_port
    probe = {"httpGet": {"path": "/metrics", "port": "metrics"}, "timeoutSeconds": 5}
    container = {
        "name": "scorer",
        "image": scoring.image or settings.scorer_image,
        "imagePullPolicy": settings.scorer_image_pull_policy,
        # The command is explicit, so an image override (e.g. the API image with the scorer extra)
        # runs the scorer whatever its own CMD is.
        "command": ["fraudlake"],
        "args": ["scorer", "run", f"--pipeline={pipeline.namespace}/{pipeline.name}"],
        "env": scorer_env(pipeline, settings),
        **(
            {"envFrom": [{"secretRef": {"name": settings.scorer_env_secret}}]}
            if settings.scorer_env_secret
            else {}
        ),
        "ports": [{"name": "metrics", "containerPort": port, "protocol": "TCP"}],
        # /metrics is served once the first model is loaded (the scorer waits up to 120 s for it).
        "startupProbe": {**probe, "periodSeconds": 5, "failureThreshold": 30},
        "livenessProbe": {**probe, "periodSeconds": 20, "failureThreshold": 3},
        "readinessProbe": {**probe, "periodSeconds": 10, "failureThreshold": 3},
        "resources": scorer_resources(pipeline, settings),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "privileged": False,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "state", "mountPath": SCORER_STATE_DIR},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - an emptyDir; the root fs is read-only
        ],
    }
    template = {
        "metadata": {
            "labels": scorer_labels(pipeline),
            "annotations": {
                "prometheus.io/scrape": "true",
                "prometheus.io/port": str(port),
                "prometheus.io/path": "/metrics",
            },
        },
        "spec": {
            "serviceAccountName": scorer_name(pipeline),
            "automountServiceAccountToken": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 10001,
                "runAsGroup": 10001,
                "fsGroup": 10001,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            # SIGTERM lets the scorer close its open Kafka transaction rather than leave it to time out.
            "terminationGracePeriodSeconds": 30,
            "containers": [container],
            "volumes": [
                {"name": "state", "emptyDir": {"sizeLimit": "1Gi"}},
                {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
            ],
        },
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _scorer_metadata(pipeline),
        "spec": {
            "replicas": scoring.replicas,
            "selector": {"matchLabels": scorer_selector_labels(pipeline)},
            # A new pod joins before an old one leaves, so the group never scores with fewer pods.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": template,
        },
    }


def scorer_child_differs(existing: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    """Whether a scorer child in the cluster needs the desired manifest: another hash, a label of ours
    missing or changed, or (a Deployment) someone scaled it by hand."""
    metadata = existing.get("metadata") or {}
    labels = metadata.get("labels") or {}
    if any(labels.get(k) != v for k, v in desired["metadata"]["labels"].items()):
        return True
    wanted_hash = desired["metadata"]["annotations"][SPEC_HASH_ANNOTATION]
    if (metadata.get("annotations") or {}).get(SPEC_HASH_ANNOTATION) != wanted_hash:
        return True
    if desired["kind"] == "Deployment":
        return (existing.get("spec") or {}).get("replicas") != desired["spec"]["replicas"]
    return False


def deployment_readiness(deployment: Mapping[str, Any] | None, desired: int) -> tuple[int, str]:
    """(available pods of the current generation, why the Deployment is not ready or "")."""
    if deployment is None:
        return 0, "the Deployment does not exist"
    status = deployment.get("status") or {}
    generation = (deployment.get("metadata") or {}).get("generation")
    if not status or status.get("observedGeneration") is None:
        return 0, "no status from the Deployment controller yet (is kube-controller-manager running?)"
    if generation is not None and status["observedGeneration"] < generation:
        return 0, f"the Deployment controller has not observed generation {generation} yet"
    available = min(int(status.get("availableReplicas") or 0), int(status.get("updatedReplicas") or 0))
    if available >= desired:
        return available, ""
    why = f"{available}/{desired} scorer pods available"
    for condition in status.get("conditions") or ():
        # ReplicaFailure (e.g. quota) and Progressing=False (ProgressDeadlineExceeded) say why.
        failing = condition.get("type") == "ReplicaFailure" and condition.get("status") == "True"
        stalled = condition.get("type") == "Progressing" and condition.get("status") == "False"
        if failing or stalled:
            why += f"; {condition.get('reason')}: {condition.get('message')}"
    return available, why


def _scorer_metadata(pipeline: Pipeline) -> dict[str, Any]:
    return {"name": scorer_name(pipeline), "namespace": pipeline.namespace, "labels": scorer_labels(pipeline)}


def _stamped(manifest: dict[str, Any]) -> dict[str, Any]:
    digest = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:16]
    metadata = manifest["metadata"]
    metadata["annotations"] = {**metadata.get("annotations", {}), SPEC_HASH_ANNOTATION: digest}
    return manifest


def _number(value: float | None) -> str | None:
    return None if value is None else repr(value)
