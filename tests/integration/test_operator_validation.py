"""The API server rejects bad FraudPipelines (`kubectl apply --dry-run=server`) with clear messages.

Schema, patterns, enums, defaults and CEL rules all run in the real kube-apiserver; nothing here
needs the operator.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fraudpipeline_kit import Kubectl, api, crd, kubectl, new_namespace, pipeline_manifest, rejection_message
from kubernetes import client

pytestmark = pytest.mark.integration
__all__ = ["api", "crd", "kubectl"]  # fixtures

Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutation:
    def mutate(manifest: dict[str, Any]) -> None:
        node = manifest
        keys = path.split(".")
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value

    return mutate


def _drop(path: str) -> Mutation:
    def mutate(manifest: dict[str, Any]) -> None:
        node = manifest
        keys = path.split(".")
        for key in keys[:-1]:
            node = node[key]
        del node[keys[-1]]

    return mutate


RULE = {"name": "r1", "type": "Velocity", "windowMinutes": 5, "minCount": 3}

INVALID: list[tuple[str, Mutation, str]] = [
    ("name-too-long", _set("metadata.name", "p" * 41), "metadata.name must be at most 40 characters"),
    ("name-with-dots", _set("metadata.name", "a.b"), "metadata.name must be a DNS label"),
    ("missing-kafka", _drop("spec.kafka"), "spec.kafka: Required value"),
    (
        "bad-cluster-name",
        _set("spec.kafka.clusterRef.name", "Kafka_1"),
        "spec.kafka.clusterRef.name in body should match",
    ),
    (
        "zero-partitions",
        _set("spec.kafka.topics.transactions.partitions", 0),
        "spec.kafka.topics.transactions.partitions in body should be greater than or equal to 1",
    ),
    (
        "replicas-above-brokers",
        _set("spec.kafka.topics.cards.replicas", 3),
        "topic replicas must not exceed kafka.brokers",
    ),
    (
        "min-isr-above-replicas",
        _set("spec.kafka.topics.transactions.minInSyncReplicas", 2),
        "minInSyncReplicas must not exceed replicas",
    ),
    (
        "retention-format",
        _set("spec.kafka.topics.transactions.retention", "7 days"),
        "spec.kafka.topics.transactions.retention in body should match",
    ),
    (
        "cleanup-policy",
        _set("spec.kafka.topics.alerts.cleanupPolicy", "forever"),
        'Unsupported value: "forever"',
    ),
    (
        "unknown-stream",
        _set("spec.kafka.topics.payments", {"partitions": 1}),
        'unknown field "spec.kafka.topics.payments"',
    ),
    ("bucket-name", _set("spec.lake.bucket", "My_Bucket"), "spec.lake.bucket in body should match"),
    ("prefix-leading-slash", _set("spec.lake.prefix", "/raw"), "spec.lake.prefix in body should match"),
    # One pipeline's prefix must not climb into another tenant's.
    (
        "prefix-parent-segment",
        _set("spec.lake.prefix", "../other-tenant"),
        "spec.lake.prefix in body should match",
    ),
    ("prefix-inner-dot-dot", _set("spec.lake.prefix", "fraud/../x"), "spec.lake.prefix in body should match"),
    ("prefix-dot-segment", _set("spec.lake.prefix", "fraud/./x"), "spec.lake.prefix in body should match"),
    (
        "endpoint-without-scheme",
        _set("spec.lake.endpoint", "minio:9000"),
        "spec.lake.endpoint in body should match",
    ),
    (
        "endpoint-without-credentials",
        _drop("spec.lake.credentialsSecret"),
        "lake.endpoint (an S3-compatible store) needs lake.credentialsSecret",
    ),
    (
        "system-database",
        _set("spec.clickhouse.database", "system"),
        "clickhouse.database must not be a system database",
    ),
    (
        "database-with-dash",
        _set("spec.clickhouse.database", "fraud-db"),
        "spec.clickhouse.database in body should match",
    ),
    (
        "negative-retention",
        _set("spec.clickhouse.retentionDays", -1),
        "spec.clickhouse.retentionDays in body should be greater than or equal to 0",
    ),
    (
        "streaming-without-bootstrap",
        _set("spec.clickhouse.streamingIngest", True),
        "clickhouse.streamingIngest needs kafka.bootstrapServers",
    ),
    (
        "duplicate-rule-names",
        _set("spec.rules", [RULE, {**RULE, "minCount": 9}]),
        "rule names must be unique",
    ),
    ("rule-type", _set("spec.rules", [{**RULE, "type": "Magic"}]), 'Unsupported value: "Magic"'),
    (
        "rule-window",
        _set("spec.rules", [{**RULE, "windowMinutes": 0}]),
        "should be greater than or equal to 1",
    ),
    (
        "too-many-rules",
        _set("spec.rules", [{**RULE, "name": f"r{i}"} for i in range(17)]),
        "must have at most 16 items",
    ),
    (
        "threshold-one",
        _set("spec.scoring.threshold", 1.0),
        "spec.scoring.threshold in body should be less than 1",
    ),
    # spec.scoring: the scorer Deployment's replicas, model, thresholds and resources.
    (
        "scoring-negative-replicas",
        _set("spec.scoring.replicas", -1),
        "spec.scoring.replicas in body should be greater than or equal to 0",
    ),
    (
        "scoring-replicas-above-partitions",
        _set("spec.scoring.replicas", 4),  # the base pipeline's transactions topic has 3 partitions
        "scoring.replicas must not exceed kafka.topics.transactions.partitions",
    ),
    (
        "scoring-review-one",
        _set("spec.scoring.thresholds", {"review": 1}),
        "spec.scoring.thresholds.review in body should be less than 1",
    ),
    (
        "scoring-decline-zero",
        _set("spec.scoring.thresholds", {"decline": 0}),
        "spec.scoring.thresholds.decline in body should be greater than 0",
    ),
    (
        "scoring-thresholds-out-of-order",
        _set("spec.scoring.thresholds", {"review": 0.8, "decline": 0.5}),
        "scoring.thresholds.decline must be greater than scoring.thresholds.review",
    ),
    (
        "scoring-thresholds-equal",
        _set("spec.scoring.thresholds", {"review": 0.5, "decline": 0.5}),
        "scoring.thresholds.decline must be greater than scoring.thresholds.review",
    ),
    (
        "scoring-threshold-and-its-new-name",
        _set("spec.scoring", {"threshold": 0.5, "thresholds": {"review": 0.5}}),
        "scoring.threshold is the deprecated name of scoring.thresholds.review: set only one",
    ),
    (
        "scoring-decline-below-the-deprecated-threshold",
        _set("spec.scoring", {"threshold": 0.8, "thresholds": {"decline": 0.5}}),
        "scoring.thresholds.decline must be greater than scoring.threshold",
    ),
    (
        "scoring-model-reference",
        _set("spec.scoring.model", "latest version"),
        "spec.scoring.model in body should match",
    ),
    (
        "scoring-image-reference",
        _set("spec.scoring.image", "Registry/Scorer:1"),
        "spec.scoring.image in body should match",
    ),
    (
        "scoring-quantity",
        _set("spec.scoring.resources", {"requests": {"cpu": "half"}}),
        "spec.scoring.resources.requests.cpu in body should match",
    ),
    (
        "scoring-request-above-limit",
        _set("spec.scoring.resources", {"requests": {"memory": "2Gi"}, "limits": {"memory": "1536Mi"}}),
        "scoring.resources.requests.memory must not exceed scoring.resources.limits.memory",
    ),
    (
        "scoring-cpu-request-above-limit",
        _set("spec.scoring.resources", {"requests": {"cpu": "1500m"}, "limits": {"cpu": "1"}}),
        "scoring.resources.requests.cpu must not exceed scoring.resources.limits.cpu",
    ),
    (
        "scoring-unknown-resource",
        _set("spec.scoring.resources", {"requests": {"gpu": "1"}}),
        'unknown field "spec.scoring.resources.requests.gpu"',
    ),
    ("deletion-policy", _set("spec.deletionPolicy", "Orphan"), 'Unsupported value: "Orphan"'),
]

# Transition rules: valid on create, rejected as an update of an existing pipeline.
INVALID_UPDATES: list[tuple[str, Mutation, str]] = [
    ("partition-shrink", _set("spec.kafka.topics.transactions.partitions", 2), "partitions can only grow"),
    ("database-change", _set("spec.clickhouse.database", "other_db"), "clickhouse.database is immutable"),
    ("kafka-cluster-change", _set("spec.kafka.clusterRef.name", "other"), "kafka.clusterRef is immutable"),
    (
        "retain-to-delete",
        _set("spec.deletionPolicy", "Delete"),
        "deletionPolicy can change to Delete only at creation",
    ),
]


@pytest.fixture(scope="module")
def namespace(api: client.ApiClient, crd: dict[str, Any]) -> str:
    return new_namespace(api, "fp-validation")


def _base(namespace: str) -> dict[str, Any]:
    return pipeline_manifest(namespace, namespace, "valid", "fraud_valid")


def test_the_base_manifest_is_valid(kubectl: Kubectl, namespace: str) -> None:
    result = kubectl.apply(_base(namespace), "--dry-run=server")
    assert result.returncode == 0, result.stderr


# Valid scoring specs at the edges of what the rules allow.
VALID_SCORING: list[tuple[str, dict[str, Any]]] = [
    ("replicas-equal-to-partitions", {"replicas": 3, "thresholds": {"review": 0.01, "decline": 0.99}}),
    ("deprecated-threshold-below-decline", {"threshold": 0.4, "thresholds": {"decline": 0.9}}),
    (
        "request-equal-to-limit-in-other-units",
        {"resources": {"requests": {"memory": "1Gi"}, "limits": {"memory": "1024Mi"}}},
    ),
    (
        "pinned-model-and-image",
        {"model": "v20260101-1", "image": "registry.example:5000/fraudlake/scorer:1.2.3"},
    ),
]


@pytest.mark.parametrize(("case", "scoring"), VALID_SCORING, ids=[c[0] for c in VALID_SCORING])
def test_valid_scoring_is_accepted(
    kubectl: Kubectl, namespace: str, case: str, scoring: dict[str, Any]
) -> None:
    manifest = _base(namespace)
    manifest["spec"]["scoring"] = scoring
    result = kubectl.apply(manifest, "--dry-run=server")
    assert result.returncode == 0, result.stderr


def test_enough_invalid_cases() -> None:
    assert len(INVALID) + len(INVALID_UPDATES) >= 15


@pytest.mark.parametrize(("case", "mutate", "message"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_manifest_is_rejected(
    kubectl: Kubectl, namespace: str, case: str, mutate: Mutation, message: str
) -> None:
    manifest = copy.deepcopy(_base(namespace))
    mutate(manifest)
    assert message in rejection_message(kubectl.apply(manifest, "--dry-run=server"))


@pytest.mark.parametrize(("case", "mutate", "message"), INVALID_UPDATES, ids=[c[0] for c in INVALID_UPDATES])
def test_invalid_update_is_rejected(
    kubectl: Kubectl, namespace: str, case: str, mutate: Mutation, message: str
) -> None:
    existing = pipeline_manifest(namespace, namespace, f"upd-{uuid.uuid4().hex[:6]}", "fraud_upd")
    created = kubectl.apply(existing)
    assert created.returncode == 0, created.stderr
    changed = copy.deepcopy(existing)
    mutate(changed)
    assert message in rejection_message(kubectl.apply(changed, "--dry-run=server"))


def test_a_pipeline_with_sources_installs_and_its_topics_only_grow(kubectl: Kubectl, namespace: str) -> None:
    """spec.sources is a list keyed by name (x-kubernetes-list-type map): without that the API server
    refuses the whole CRD, since an item's transition rule (oldSelf) cannot be matched to an old item."""
    existing = pipeline_manifest(namespace, namespace, f"src-{uuid.uuid4().hex[:6]}", "fraud_src")
    source = {"name": "bank", "databaseSecret": {"name": "bank-db"}, "tables": ["public.cards"]}
    existing["spec"]["sources"] = [{**source, "topic": {"partitions": 3, "replicas": 1}}]
    created = kubectl.apply(existing)
    assert created.returncode == 0, created.stderr
    changed = copy.deepcopy(existing)
    changed["spec"]["sources"][0]["topic"]["partitions"] = 2
    assert "partitions can only grow" in rejection_message(kubectl.apply(changed, "--dry-run=server"))
    duplicate = copy.deepcopy(existing)
    duplicate["spec"]["sources"].append(source)
    assert "Duplicate value" in rejection_message(kubectl.apply(duplicate, "--dry-run=server"))


def test_delete_policy_is_set_at_creation_and_may_only_go_back_to_retain(
    kubectl: Kubectl, namespace: str
) -> None:
    existing = pipeline_manifest(
        namespace, namespace, f"del-{uuid.uuid4().hex[:6]}", "fraud_del", deletionPolicy="Delete"
    )
    created = kubectl.apply(existing)
    assert created.returncode == 0, created.stderr
    retained = copy.deepcopy(existing)
    retained["spec"]["deletionPolicy"] = "Retain"
    updated = kubectl.apply(retained)
    assert updated.returncode == 0, updated.stderr
    message = rejection_message(kubectl.apply(existing, "--dry-run=server"))  # and back to Delete: no
    assert "deletionPolicy can change to Delete only at creation" in message
