"""The stream scorer's children: pure builders, readiness, and the check-then-act step on a fake API."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from fraudlake.operator import kube, scorer
from fraudlake.operator.builders import (
    SPEC_HASH_ANNOTATION,
    Pipeline,
    deployment_readiness,
    kafka_bootstrap,
    quantity_value,
    scorer_child_differs,
    scorer_manifests,
    scorer_resources,
)
from fraudlake.operator.results import Known
from fraudlake.operator.settings import OperatorSettings
from fraudlake.pipeline import naming
from fraudlake.pipeline.spec import FraudPipelineSpec, Rule

pytestmark = pytest.mark.unit

EXAMPLES = Path(__file__).resolve().parents[3] / "operator" / "examples"
SETTINGS = OperatorSettings(
    scorer_image="registry.example/fraudlake-scorer:1.2.3",
    scorer_model_uri="s3://models-bucket/models",
    scorer_env_secret="scorer-s3",
)


def _pipeline(**scoring: Any) -> Pipeline:
    spec = yaml.safe_load((EXAMPLES / "pipeline.yaml").read_text())["spec"]
    spec["scoring"] = {"replicas": 2, **scoring}
    return Pipeline("fraud", "demo", 4, FraudPipelineSpec.parse(spec))


def _by_kind(pipeline: Pipeline, settings: OperatorSettings = SETTINGS) -> dict[str, dict[str, Any]]:
    return {m["kind"]: m for m in scorer_manifests(pipeline, settings)}


def _env(deployment: dict[str, Any]) -> dict[str, Any]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_scoring_defaults_keep_the_scorer_off_and_follow_the_champion() -> None:
    local = list(yaml.safe_load_all((EXAMPLES / "pipeline-local.yaml").read_text()))[-1]
    scoring = FraudPipelineSpec.parse(local["spec"]).scoring
    assert (scoring.replicas, scoring.model, scoring.review_threshold) == (0, "champion", 0.7)
    minimal = FraudPipelineSpec.parse(
        {
            "kafka": {"clusterRef": {"name": "kafka"}},
            "lake": {"connectClusterRef": {"name": "connect"}, "bucket": "lake"},
            "clickhouse": {"endpointSecret": {"name": "ch"}, "database": "fraud"},
        }
    ).scoring
    assert (minimal.replicas, minimal.model, minimal.review_threshold, minimal.image) == (
        0,
        "champion",
        None,
        None,
    )


def test_the_deprecated_threshold_is_read_as_the_review_threshold() -> None:
    assert _pipeline(threshold=0.6).spec.scoring.review_threshold == 0.6
    assert _pipeline(thresholds={"review": 0.4}).spec.scoring.review_threshold == 0.4
    env = _env(_by_kind(_pipeline(threshold=0.6))["Deployment"])
    assert env["FRAUDLAKE_SCORER_REVIEW_THRESHOLD"] == "0.6"
    assert "FRAUDLAKE_SCORER_DECLINE_THRESHOLD" not in env


@pytest.mark.parametrize(
    ("scoring", "message"),
    [
        ({"replicas": -1}, "greater than or equal to 0"),
        ({"thresholds": {"review": 1.0}}, "less than 1"),
        ({"thresholds": {"decline": 0}}, "greater than 0"),
        ({"model": "latest version"}, "String should match pattern"),
        ({"image": "Registry/Scorer:1"}, "String should match pattern"),
        ({"resources": {"requests": {"cpu": "half"}}}, "String should match pattern"),
        ({"resources": {"requests": {"gpu": "1"}}}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_scoring_fails_to_parse(scoring: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _pipeline(**scoring)


def test_deployment_runs_the_scorer_for_this_pipeline_hardened() -> None:
    deployment = _by_kind(_pipeline(model="v20260101-1", thresholds={"review": 0.3, "decline": 0.8}))[
        "Deployment"
    ]
    assert deployment["metadata"] == {
        "name": "demo-scorer",
        "namespace": "fraud",
        "labels": {
            **naming.child_labels("fraud", "demo"),
            "app.kubernetes.io/name": "fraudlake-scorer",
            "app.kubernetes.io/instance": "demo",
            "app.kubernetes.io/component": "scorer",
            "app.kubernetes.io/part-of": "fraudlake",
        },
        "annotations": {SPEC_HASH_ANNOTATION: deployment["metadata"]["annotations"][SPEC_HASH_ANNOTATION]},
    }
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == "demo-scorer"
    (container,) = pod["containers"]
    assert container["image"] == "registry.example/fraudlake-scorer:1.2.3"
    assert [*container["command"], *container["args"]] == [
        "fraudlake",
        "scorer",
        "run",
        "--pipeline=fraud/demo",
    ]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["ports"] == [{"name": "metrics", "containerPort": 9100, "protocol": "TCP"}]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/metrics", "port": "metrics"}
    mounted = {m["mountPath"] for m in container["volumeMounts"]}
    assert _env(deployment)["FRAUDLAKE_SCORER_STATE_DIR"] in mounted
    assert container["envFrom"] == [{"secretRef": {"name": "scorer-s3"}}]
    env = _env(deployment)
    assert env["FRAUDLAKE_MODEL_URI"] == "s3://models-bucket/models"
    assert env["FRAUDLAKE_SCORER_MODEL"] == "v20260101-1"
    assert (env["FRAUDLAKE_SCORER_REVIEW_THRESHOLD"], env["FRAUDLAKE_SCORER_DECLINE_THRESHOLD"]) == (
        "0.3",
        "0.8",
    )
    assert env["FRAUDLAKE_SCORER_METRICS_PORT"] == "9100"
    assert env["FRAUDLAKE_CLICKHOUSE_DSN"] == {"secretKeyRef": {"name": "demo-clickhouse", "key": "dsn"}}
    rules = [Rule.model_validate(rule) for rule in json.loads(env["FRAUDLAKE_SCORER_RULES"])]
    assert tuple(rules) == _pipeline().spec.rules


def test_kafka_bootstrap_is_the_spec_s_or_strimzi_s_bootstrap_service() -> None:
    pipeline = _pipeline()
    assert kafka_bootstrap(pipeline) == "fraudlake-kafka-bootstrap.kafka.svc:9092"
    explicit = Pipeline(
        "fraud",
        "demo",
        1,
        pipeline.spec.model_copy(
            update={"kafka": pipeline.spec.kafka.model_copy(update={"bootstrap_servers": "k:9092"})}
        ),
    )
    assert _env(_by_kind(explicit)["Deployment"])["FRAUDLAKE_KAFKA_BOOTSTRAP"] == "k:9092"


def test_resources_are_the_operator_defaults_overridden_key_by_key() -> None:
    assert scorer_resources(_pipeline(), SETTINGS) == SETTINGS.scorer_resources
    pipeline = _pipeline(resources={"requests": {"memory": "2Gi"}, "limits": {"cpu": "3"}})
    # The memory limit follows the raised request (the default 1Gi would be refused under a 2Gi request).
    assert scorer_resources(pipeline, SETTINGS) == {
        "requests": {"cpu": "250m", "memory": "2Gi"},
        "limits": {"cpu": "3", "memory": "2Gi"},
    }
    assert (
        _by_kind(_pipeline(image="ghcr.io/me/scorer:dev"))["Deployment"]["spec"]["template"]["spec"][
            "containers"
        ][0]["image"]
        == "ghcr.io/me/scorer:dev"
    )


def test_a_default_never_contradicts_the_pipeline_s_own_resources() -> None:
    """The API server refuses a request above its limit: a pipeline raising a request above the default
    limit raises that limit, one lowering a limit below the default request lowers that request."""
    raised = _pipeline(resources={"requests": {"cpu": "1500m", "memory": "2Gi"}})
    assert scorer_resources(raised, SETTINGS) == {
        "requests": {"cpu": "1500m", "memory": "2Gi"},
        "limits": {"cpu": "1500m", "memory": "2Gi"},
    }
    lowered = _pipeline(resources={"limits": {"cpu": "100m", "memory": "256Mi"}})
    assert scorer_resources(lowered, SETTINGS) == {
        "requests": {"cpu": "100m", "memory": "256Mi"},
        "limits": {"cpu": "100m", "memory": "256Mi"},
    }
    # Within the defaults, or equal in other units: nothing moves.
    within = _pipeline(resources={"requests": {"cpu": "1", "memory": "1024Mi"}})
    assert scorer_resources(within, SETTINGS)["limits"] == {"cpu": "1", "memory": "1Gi"}


@pytest.mark.parametrize(
    ("text", "value"),
    [("500m", "0.5"), ("2", "2"), ("1.5", "1.5"), ("1Gi", str(2**30)), ("512Mi", str(2**29)), ("1G", "1e9")],
)
def test_quantity_value(text: str, value: str) -> None:
    assert quantity_value(text) == Decimal(value)
    assert quantity_value("half") is None


def test_service_account_and_budget() -> None:
    settings = SETTINGS.model_copy(
        update={"scorer_service_account_annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/s"}}
    )
    children = _by_kind(_pipeline(), settings)
    account = children["ServiceAccount"]
    assert account["automountServiceAccountToken"] is False
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == "arn:aws:iam::1:role/s"
    budget = children["PodDisruptionBudget"]["spec"]
    assert budget == {"maxUnavailable": 1, "selector": children["Deployment"]["spec"]["selector"]}


def test_a_child_differs_on_another_hash_a_label_or_a_hand_scaled_deployment() -> None:
    desired = _by_kind(_pipeline())["Deployment"]
    existing = copy.deepcopy(desired) | {"status": {"availableReplicas": 2}}
    existing["metadata"]["labels"]["extra"] = "kept"
    assert not scorer_child_differs(existing, desired)
    assert scorer_child_differs(existing, _by_kind(_pipeline(model="v2"))["Deployment"])
    scaled = copy.deepcopy(existing)
    scaled["spec"]["replicas"] = 5
    assert scorer_child_differs(scaled, desired)
    unlabelled = copy.deepcopy(existing)
    del unlabelled["metadata"]["labels"][naming.PIPELINE_LABEL]
    assert scorer_child_differs(unlabelled, desired)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({}, (0, "no status from the Deployment controller yet")),
        ({"observedGeneration": 2}, (0, "has not observed generation 3")),
        (
            {"observedGeneration": 3, "availableReplicas": 1, "updatedReplicas": 2},
            (1, "1/2 scorer pods available"),
        ),
        (
            {
                "observedGeneration": 3,
                "conditions": [
                    {
                        "type": "Progressing",
                        "status": "False",
                        "reason": "ProgressDeadlineExceeded",
                        "message": "m",
                    }
                ],
            },
            (0, "0/2 scorer pods available; ProgressDeadlineExceeded: m"),
        ),
        ({"observedGeneration": 3, "availableReplicas": 2, "updatedReplicas": 2}, (2, "")),
    ],
)
def test_deployment_readiness(status: dict[str, Any], expected: tuple[int, str]) -> None:
    available, why = deployment_readiness({"metadata": {"generation": 3}, "status": status}, 2)
    assert available == expected[0]
    assert expected[1] in why
    assert bool(why) == bool(expected[1])


class FakeApi:
    """Deployments, ServiceAccounts and PodDisruptionBudgets in memory, with the calls recorded."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.version = 0

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(kube, "get_native", self.get)
        monkeypatch.setattr(kube, "list_native", self.list)
        monkeypatch.setattr(kube, "create_native", self.create)
        monkeypatch.setattr(kube, "replace_native", self.replace)
        monkeypatch.setattr(kube, "delete_native", self.delete)
        monkeypatch.setattr(scorer, "operator_settings", lambda: SETTINGS)

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.objects.get((kind, namespace, name)))

    def list(self, kind: str, namespace: str, selector: str) -> list[dict[str, Any]]:
        wanted = dict(pair.split("=") for pair in selector.split(","))
        return [
            copy.deepcopy(o)
            for (k, ns, _), o in self.objects.items()
            if k == kind and ns == namespace and wanted.items() <= o["metadata"]["labels"].items()
        ]

    def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("create", manifest["kind"]))
        return self._store(manifest)

    def replace(self, manifest: dict[str, Any], resource_version: str) -> dict[str, Any]:
        self.calls.append(("replace", manifest["kind"]))
        key = (manifest["kind"], manifest["metadata"]["namespace"], manifest["metadata"]["name"])
        assert self.objects[key]["metadata"]["resourceVersion"] == resource_version
        return self._store(manifest)

    def delete(self, kind: str, namespace: str, name: str) -> bool:
        self.calls.append(("delete", kind))
        return self.objects.pop((kind, namespace, name), None) is not None

    def _store(self, manifest: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        stored = copy.deepcopy(manifest)
        stored["metadata"]["resourceVersion"] = str(self.version)
        self.objects[(manifest["kind"], manifest["metadata"]["namespace"], manifest["metadata"]["name"])] = (
            stored
        )
        return copy.deepcopy(stored)


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    fake = FakeApi()
    fake.install(monkeypatch)
    return fake


def test_step_creates_then_leaves_alone_then_replaces(api: FakeApi) -> None:
    first = scorer.reconcile_scorer(_pipeline(), Known())
    assert api.calls == [
        ("create", "ServiceAccount"),
        ("create", "PodDisruptionBudget"),
        ("create", "Deployment"),
    ]
    assert (first.condition["status"], first.condition["reason"]) == ("False", "ScorerNotAvailable")
    assert first.status == {"scorer": "demo-scorer", "scoringReady": "0/2"}
    assert "no status from the Deployment controller" in (first.waiting or "")
    assert not first.repaired

    api.calls.clear()
    api.objects[("Deployment", "fraud", "demo-scorer")]["status"] = {
        "observedGeneration": 1,
        "availableReplicas": 2,
        "updatedReplicas": 2,
    }
    again = scorer.reconcile_scorer(_pipeline(), Known(scorer="demo-scorer"))
    assert api.calls == []
    assert (again.condition["status"], again.status["scoringReady"], again.waiting) == ("True", "2/2", None)

    changed = scorer.reconcile_scorer(_pipeline(model="v7"), Known(scorer="demo-scorer"))
    assert api.calls == [("replace", "Deployment")]
    assert [e.reason for e in changed.events] == ["ScorerUpdated"]


def test_step_recreates_a_deleted_deployment_as_a_repair(api: FakeApi) -> None:
    scorer.reconcile_scorer(_pipeline(), Known())
    del api.objects[("Deployment", "fraud", "demo-scorer")]
    repaired = scorer.reconcile_scorer(_pipeline(), Known(scorer="demo-scorer"))
    assert repaired.repaired == ["Deployment demo-scorer"]
    assert [e.reason for e in repaired.events] == ["ScorerRecreated"]


def test_zero_replicas_removes_the_scorer_and_reports_it_off(api: FakeApi) -> None:
    scorer.reconcile_scorer(_pipeline(), Known())
    api.calls.clear()
    off = scorer.reconcile_scorer(_pipeline(replicas=0), Known(scorer="demo-scorer"))
    assert api.calls == [
        ("delete", "Deployment"),
        ("delete", "PodDisruptionBudget"),
        ("delete", "ServiceAccount"),
    ]
    assert api.objects == {}
    assert (off.condition["status"], off.condition["reason"]) == ("True", "ScorerOff")
    assert off.status == {"scorer": "", "scoringReady": "off"}
    assert [e.reason for e in off.events] == ["ScorerRemoved"]
    assert scorer.reconcile_scorer(_pipeline(replicas=0), Known()).events == []


def test_an_object_of_the_same_name_that_is_not_ours_is_refused(api: FakeApi) -> None:
    api.objects[("Deployment", "fraud", "demo-scorer")] = {
        "kind": "Deployment",
        "metadata": {"name": "demo-scorer", "namespace": "fraud", "labels": {"app": "someone-else"}},
    }
    refused = scorer.reconcile_scorer(_pipeline(), Known())
    assert refused.condition["reason"] == "ScorerNameTaken"
    assert "is not this pipeline's scorer" in (refused.permanent or "")
    assert ("replace", "Deployment") not in api.calls
    assert api.objects[("Deployment", "fraud", "demo-scorer")]["metadata"]["labels"] == {
        "app": "someone-else"
    }


def test_a_manifest_the_api_server_refuses_is_reported_not_retried(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 422 (the spec passed the CRD, the Deployment did not pass the API server) is a permanent refusal
    with the server's own message, not a crash kopf retries blindly."""

    def refuse(manifest: dict[str, Any]) -> dict[str, Any]:
        if manifest["kind"] != "Deployment":
            return api.create(manifest)
        refusal = ApiException(status=422, reason="Unprocessable Entity")
        refusal.body = json.dumps(
            {"kind": "Status", "message": 'Deployment.apps "demo-scorer" is invalid: x'}
        )
        raise refusal

    monkeypatch.setattr(kube, "create_native", refuse)
    refused = scorer.reconcile_scorer(_pipeline(), Known())
    assert (refused.condition["status"], refused.condition["reason"]) == ("False", "ScorerRejected")
    assert refused.permanent == (
        'the API server refused Deployment fraud/demo-scorer: Deployment.apps "demo-scorer" is invalid: x'
    )
    assert refused.status == {"scorer": "", "scoringReady": "0/2"}
    assert [e.reason for e in refused.events][-1] == "ScorerRejected"

    def unavailable(manifest: dict[str, Any]) -> dict[str, Any]:
        raise ApiException(status=403, reason="Forbidden")

    monkeypatch.setattr(kube, "create_native", unavailable)
    with pytest.raises(ApiException):
        scorer.reconcile_scorer(_pipeline(model="v9"), Known())
