"""The stream scorer's children against the real kube-apiserver: what the builders make from `spec.scoring`
is accepted by server-side apply, and the operator (Kopf, in-process) creates, updates, repairs and
removes the scorer's Deployment, ServiceAccount and PodDisruptionBudget and the decisions and deadletter
KafkaTopics, reporting ScoringReady.

The local API server runs no controller-manager: `FakeDeploymentController` writes a Deployment's status
the way the Deployment controller does (and `FakeStrimzi` the KafkaTopics'), so readiness comes from
status exactly as in a cluster.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# The drift timer's interval is fixed when the handlers module is imported (by the first KopfRunner).
os.environ.setdefault("FRAUDLAKE_OPERATOR_DRIFT_INTERVAL_SECONDS", "1")
os.environ.setdefault("FRAUDLAKE_OPERATOR_RETRY_DELAY_SECONDS", "1")

import pytest
import yaml
from fake_strimzi import FakeStrimzi
from fraudpipeline_kit import (
    Kubectl,
    api,
    condition,
    crd,
    dsn_secret,
    events,
    eventually,
    get_pipeline,
    kubectl,
    new_namespace,
    pipeline_manifest,
    strimzi,
)
from kopf.testing import KopfRunner
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from fraudlake.common.background import BackgroundThread
from fraudlake.local.stack.service import ServiceRecord
from fraudlake.operator.builders import Pipeline, scorer_manifests, scorer_name, topic_manifests
from fraudlake.operator.settings import OperatorSettings
from fraudlake.pipeline import naming, scorer_env
from fraudlake.pipeline.spec import FraudPipelineSpec

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
__all__ = ["api", "crd", "kubectl"]  # fixtures

EXAMPLES = Path(__file__).resolve().parents[2] / "operator" / "examples"
SCORER_KINDS = ("Deployment", "ServiceAccount", "PodDisruptionBudget")
# The production shape of the operator's scorer settings (the chart's `scorer` values).
EKS_SETTINGS = OperatorSettings(
    scorer_image="123456789012.dkr.ecr.eu-west-1.amazonaws.com/fraudlake/scorer@sha256:" + "0" * 64,
    scorer_image_pull_policy="Always",
    scorer_model_uri="s3://fraudlake-lake/models/",
    scorer_s3_endpoint="http://minio.minio.svc:9000",
    scorer_env_secret="fraudlake-scorer-s3",
    scorer_service_account_annotations={
        "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/scorer"
    },
)


class FakeDeploymentController(BackgroundThread):
    """Writes each scorer Deployment's status as the Deployment controller does once its pods are up:
    the observed generation and every desired replica updated, ready and available. Names in `hold` are
    left without status (pods not scheduled yet)."""

    def __init__(self, api: client.ApiClient, namespace: str, interval: float = 0.2) -> None:
        self.apps = client.AppsV1Api(api)
        self.namespace, self.interval = namespace, interval
        self.hold: set[str] = set()
        super().__init__("fake-deployment-controller")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                found = self.apps.list_namespaced_deployment(
                    self.namespace, label_selector=f"{naming.MANAGED_BY_LABEL}={naming.MANAGED_BY}"
                )
            except ApiException:
                found = None
            for deployment in found.items if found else ():
                self._mark_available(deployment)
            time.sleep(self.interval)

    def _mark_available(self, deployment: Any) -> None:
        meta, status = deployment.metadata, deployment.status
        if meta.name in self.hold or (status and status.observed_generation == meta.generation):
            return
        replicas = deployment.spec.replicas
        counts = ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas")
        body = {"status": {"observedGeneration": meta.generation, **dict.fromkeys(counts, replicas)}}
        with contextlib.suppress(ApiException):  # deleted or changed meanwhile: the next round sees it
            self.apps.patch_namespaced_deployment_status(meta.name, self.namespace, body)


def _pipeline(namespace: str, **scoring: Any) -> Pipeline:
    spec = yaml.safe_load((EXAMPLES / "pipeline.yaml").read_text())["spec"]
    spec["scoring"] = {"replicas": 2, **scoring}
    return Pipeline(namespace, "demo", 1, FraudPipelineSpec.parse(spec))


# --- the builders' manifests, server-side -----------------------------------------------------------


SCORER_CASES: list[tuple[str, dict[str, Any], OperatorSettings]] = [
    ("operator-defaults", {}, OperatorSettings()),
    (
        "eks-settings-pinned-model-and-thresholds",
        {"model": "v20260101-1", "thresholds": {"review": 0.3, "decline": 0.8}},
        EKS_SETTINGS,
    ),
    # Above the operator's default limits (1 CPU, 1Gi): the API server refused this until the defaults
    # yielded to the pipeline's requests.
    (
        "requests-above-the-default-limits",
        {"resources": {"requests": {"cpu": "2", "memory": "3Gi"}}},
        EKS_SETTINGS,
    ),
    (
        "limits-below-the-default-requests",
        {"resources": {"limits": {"cpu": "100m", "memory": "256Mi"}}},
        OperatorSettings(),
    ),
    (
        "image-override",
        {"image": "registry.example:5000/fraudlake/scorer:dev", "threshold": 0.6},
        OperatorSettings(),
    ),
]


@pytest.fixture(scope="module")
def namespace(api: client.ApiClient) -> str:
    return new_namespace(api, "scorer-ssa")


@pytest.mark.parametrize(("case", "scoring", "settings"), SCORER_CASES, ids=[c[0] for c in SCORER_CASES])
def test_scorer_children_pass_server_side_apply(
    kubectl: Kubectl, namespace: str, case: str, scoring: dict[str, Any], settings: OperatorSettings
) -> None:
    manifests = scorer_manifests(_pipeline(namespace, **scoring), settings)
    assert [m["kind"] for m in manifests] == ["ServiceAccount", "PodDisruptionBudget", "Deployment"]
    for flags in (("--server-side", "--dry-run=server"), ("--dry-run=server",)):
        result = kubectl.apply(manifests, *flags, "--field-manager=fraudlake-operator")
        assert result.returncode == 0, f"{flags}: {result.stderr}"
        assert result.stdout.count("(server dry run)") == 3, result.stdout


def test_the_server_would_refuse_a_request_above_the_default_limit(kubectl: Kubectl, namespace: str) -> None:
    """What the operator avoids: the API server's own check of requests ≤ limits on the pod template."""
    deployment = scorer_manifests(_pipeline(namespace), OperatorSettings())[-1]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["resources"] = {"requests": {"memory": "3Gi"}, "limits": {"memory": "1Gi"}}
    result = kubectl.apply(deployment, "--server-side", "--dry-run=server")
    assert "must be less than or equal to memory limit" in result.stderr, result.stderr


def test_scorer_topics_pass_server_side_apply(kubectl: Kubectl, namespace: str) -> None:
    """All seven KafkaTopics, the scorer's two and the lake sink's dead letters included, against Strimzi
    1.2's CRD."""
    spec = yaml.safe_load((EXAMPLES / "pipeline.yaml").read_text())["spec"]
    spec["kafka"]["clusterRef"]["namespace"] = namespace
    topics = topic_manifests(Pipeline(namespace, "demo", 1, FraudPipelineSpec.parse(spec)))
    streams = [t["metadata"]["labels"][naming.STREAM_LABEL] for t in topics]
    assert streams[-3:] == ["decisions", "deadletter", "lake-deadletter"]
    result = kubectl.apply(topics, "--server-side", "--dry-run=server")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("(server dry run)") == 7, result.stdout


# --- the operator ----------------------------------------------------------------------------------------


class World:
    """One test's pipeline namespace and Kafka namespace, with the operator and both fake controllers."""

    def __init__(self, api: client.ApiClient, kubectl: Kubectl, dsn: str) -> None:
        self.api, self.kubectl, self.dsn = api, kubectl, dsn
        self.namespace = new_namespace(api, "fp-scorer")
        self.kafka_namespace = new_namespace(api, "kafka")
        self.custom = client.CustomObjectsApi(api)
        self.scorer = "demo-scorer"

    def create(self, **spec: Any) -> None:
        database = f"fp_{uuid.uuid4().hex[:8]}"
        manifest = pipeline_manifest(self.namespace, self.kafka_namespace, "demo", database, **spec)
        result = self.kubectl.apply([dsn_secret(self.namespace, self.dsn), manifest])
        assert result.returncode == 0, result.stderr

    def get(self) -> dict[str, Any]:
        return get_pipeline(self.api, self.namespace, "demo")

    def patch_scoring(self, scoring: dict[str, Any]) -> int:
        patched = self.custom.patch_namespaced_custom_object(
            naming.GROUP,
            naming.VERSION,
            self.namespace,
            naming.PLURAL,
            "demo",
            {"spec": {"scoring": scoring}},
        )
        return int(patched["metadata"]["generation"])

    def scoring(self, reason: str, generation: int, timeout: float = 120) -> dict[str, Any]:
        """The pipeline once ScoringReady has `reason` for `generation` (status.observedGeneration)."""

        def reported() -> dict[str, Any] | None:
            obj = self.get()
            current = obj["status"].get("observedGeneration") == generation
            return obj if current and condition(obj, "ScoringReady").get("reason") == reason else None

        return eventually(reported, timeout, what=f"ScoringReady {reason} at generation {generation}")

    def children(self) -> dict[str, dict[str, Any]]:
        """The scorer's objects found by the pipeline's labels, by kind."""
        selector = naming.child_selector(self.namespace, "demo")
        core, apps, policy = (
            client.CoreV1Api(self.api),
            client.AppsV1Api(self.api),
            client.PolicyV1Api(self.api),
        )
        found = {
            "Deployment": apps.list_namespaced_deployment(self.namespace, label_selector=selector).items,
            "ServiceAccount": core.list_namespaced_service_account(
                self.namespace, label_selector=selector
            ).items,
            "PodDisruptionBudget": policy.list_namespaced_pod_disruption_budget(
                self.namespace, label_selector=selector
            ).items,
        }
        return {kind: self.api.sanitize_for_serialization(items[0]) for kind, items in found.items() if items}

    def printer_columns(self) -> list[str]:
        listed = self.kubectl("get", "fp", "-n", self.namespace)
        assert listed.returncode == 0, listed.stderr
        return listed.stdout.split("\n")[1].split()

    def delete(self) -> None:
        self.custom.delete_namespaced_custom_object(
            naming.GROUP, naming.VERSION, self.namespace, naming.PLURAL, "demo"
        )

        def gone() -> bool:
            try:
                self.get()
            except ApiException as exc:
                return exc.status == 404
            return False

        eventually(gone, 180, what="demo to be deleted")


@pytest.fixture
def world(
    api: client.ApiClient, kubectl: Kubectl, crd: dict[str, Any], clickhouse: ServiceRecord
) -> Iterator[tuple[World, FakeDeploymentController]]:
    here = World(api, kubectl, clickhouse.endpoints["dsn"])
    args = ["run", "--standalone", f"--namespace={here.namespace}", "-m", "fraudlake.operator.handlers"]
    with (
        FakeStrimzi(api),
        FakeDeploymentController(api, here.namespace) as controller,
        KopfRunner(args, timeout=120),
    ):
        yield here, controller
        if any(item["metadata"]["name"] == "demo" for item in _pipelines(here)):
            here.delete()


def _pipelines(here: World) -> list[dict[str, Any]]:
    listed = here.custom.list_namespaced_custom_object(
        naming.GROUP, naming.VERSION, here.namespace, naming.PLURAL
    )
    return list(listed["items"])


def _env(deployment: dict[str, Any]) -> dict[str, Any]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_scorer_off_on_updated_repaired_and_off_again(world: tuple[World, FakeDeploymentController]) -> None:
    here, controller = world
    here.create()  # spec.scoring defaults: replicas 0

    off = here.scoring("ScorerOff", 1)
    assert condition(off, "ScoringReady")["status"] == "True"
    assert off["status"]["scoringReady"] == "off"
    assert here.children() == {}, "replicas 0: no Deployment, ServiceAccount or PodDisruptionBudget"
    # The scorer's output topics exist from the start, like the pipeline's own four.
    for stream in naming.SCORER_STREAMS:
        topic = strimzi(
            here.api, "kafkatopics", here.kafka_namespace, naming.topic_name(here.namespace, "demo", stream)
        )
        assert topic is not None, stream
        assert topic["metadata"]["labels"][naming.STREAM_LABEL] == stream
    assert eventually(lambda: here.get()["status"].get("topicsReady") == "7/7", 60, what="7/7 topics")

    # On: the operator creates the three children; until the pods are available it says why.
    controller.hold.add(here.scorer)
    generation = here.patch_scoring({"replicas": 2, "model": "v20260101-1", "thresholds": {"review": 0.3}})
    waiting = here.scoring("ScorerNotAvailable", generation)
    assert condition(waiting, "ScoringReady")["status"] == "False"
    assert "no status from the Deployment controller yet" in condition(waiting, "ScoringReady")["message"]
    assert condition(waiting, "Ready")["status"] == "False"
    assert waiting["status"]["scoringReady"] == "0/2"
    children = here.children()
    assert set(children) == set(SCORER_KINDS)
    deployment = children["Deployment"]
    assert deployment["metadata"]["name"] == here.scorer
    assert deployment["spec"]["replicas"] == 2
    env = _env(deployment)
    assert (env[scorer_env.MODEL], env[scorer_env.REVIEW_THRESHOLD]) == ("v20260101-1", "0.3")
    assert scorer_env.DECLINE_THRESHOLD not in env
    assert children["PodDisruptionBudget"]["spec"]["maxUnavailable"] == 1
    assert children["ServiceAccount"]["automountServiceAccountToken"] is False
    assert {"ScorerCreated"} <= {reason for reason, _ in events(here.api, here.namespace, "demo")}

    controller.hold.clear()
    ready = here.scoring("ScorerAvailable", generation)
    assert condition(ready, "ScoringReady")["status"] == "True"
    assert ready["status"]["scoringReady"] == "2/2"
    assert eventually(lambda: condition(here.get(), "Ready").get("status") == "True", 60, what="Ready")
    columns = here.printer_columns()
    assert columns[0] == "demo"
    assert columns[3] == "2/2", columns  # NAME TOPICS TABLES SCORING READY AGE

    # A spec.scoring change replaces the Deployment in place; the new generation is reported ready again.
    before = here.children()["Deployment"]["metadata"]["uid"]
    generation = here.patch_scoring({"thresholds": {"review": 0.3, "decline": 0.85}, "replicas": 3})
    here.scoring("ScorerAvailable", generation)
    updated = here.children()["Deployment"]
    assert updated["metadata"]["uid"] == before
    assert updated["spec"]["replicas"] == 3
    assert _env(updated)[scorer_env.DECLINE_THRESHOLD] == "0.85"
    assert here.get()["status"]["scoringReady"] == "3/3"

    # Deleted behind the operator's back: the drift timer recreates it and records the repair.
    client.AppsV1Api(here.api).delete_namespaced_deployment(here.scorer, here.namespace)
    repaired = eventually(
        lambda: (
            f"Deployment {here.scorer}" in ((here.get()["status"].get("drift") or {}).get("repaired") or [])
        ),
        90,
        what="the Deployment's repair",
    )
    assert repaired
    assert eventually(lambda: "Deployment" in here.children(), 30, what="the Deployment back")

    # Off again: all three go, the topics stay.
    generation = here.patch_scoring({"replicas": 0})
    off = here.scoring("ScorerOff", generation)
    assert off["status"]["scoringReady"] == "off"
    assert eventually(lambda: here.children() == {}, 30, what="the scorer's children removed")
    assert here.printer_columns()[3] == "off"
    assert "ScorerRemoved" in {reason for reason, _ in events(here.api, here.namespace, "demo")}
    topic = naming.topic_name(here.namespace, "demo", "decisions")
    assert strimzi(here.api, "kafkatopics", here.kafka_namespace, topic) is not None


def test_deleting_a_pipeline_stops_its_scorer_whatever_the_policy(
    world: tuple[World, FakeDeploymentController],
) -> None:
    here, _ = world
    here.create(scoring={"replicas": 1})  # deletionPolicy Retain
    here.scoring("ScorerAvailable", 1)
    assert set(here.children()) == set(SCORER_KINDS)
    here.delete()
    assert here.children() == {}
    # Retain keeps the topics, the scorer's too.
    for stream in naming.SCORER_STREAMS:
        name = naming.topic_name(here.namespace, "demo", stream)
        assert strimzi(here.api, "kafkatopics", here.kafka_namespace, name) is not None, stream


def test_a_scorer_name_taken_by_someone_else_is_refused(
    world: tuple[World, FakeDeploymentController],
) -> None:
    here, _ = world
    foreign = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": here.scorer, "namespace": here.namespace, "labels": {"app": "someone-else"}},
    }
    applied = here.kubectl.apply(foreign)
    assert applied.returncode == 0, applied.stderr
    here.create(scoring={"replicas": 1})
    refused = here.scoring("ScorerNameTaken", 1)
    message = condition(refused, "ScoringReady")["message"]
    assert (
        f"ServiceAccount {here.namespace}/{here.scorer} exists and is not this pipeline's scorer" in message
    )
    account = client.CoreV1Api(here.api).read_namespaced_service_account(here.scorer, here.namespace)
    assert account.metadata.labels == {"app": "someone-else"}
    assert scorer_name(_pipeline(here.namespace)) == here.scorer
