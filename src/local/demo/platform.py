"""The demo's control plane: the FraudPipeline operator and local Strimzi, in this process.

The operator must run in the process that owns the chDB engine (it applies the ClickHouse DDL), so
the demo runs it in a thread with Kopf's own event loop, exactly as `fraudlake operator run` would,
next to `LocalStrimzi`, which makes the operator's KafkaTopics and KafkaConnector real in the local
Kafka and Connect. The pipeline applied is `operator/examples/pipeline-local.yaml`, pointed at the
stack's endpoints, with its Secrets made from the stack's generated credentials.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, cast

import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from fraudlake.local.stack.local_strimzi import LocalStrimzi
from fraudlake.local.stack.paths import REPO_ROOT
from fraudlake.local.stack.process import free_port
from fraudlake.local.stack.service import ScrapeJob, ServiceRecord
from fraudlake.local.stack.services.prometheus import publish_targets, withdraw_targets
from fraudlake.operator import conditions
from fraudlake.operator.crd_schema import packaged_crd_yaml
from fraudlake.pipeline import naming
from fraudlake.pipeline.status import CONNECTORS_READY, PARTS, READY, TOPICS_READY

LOCAL_PIPELINE = REPO_ROOT / "operator" / "examples" / "pipeline-local.yaml"
OPERATOR_JOB = "fraudlake-operator"  # the operator's job in the stack's Prometheus
OPERATOR_METRICS_PORT_ENV = "FRAUDLAKE_OPERATOR_METRICS_PORT"


def local_manifests(records: dict[str, ServiceRecord], pipeline_file: Path = LOCAL_PIPELINE) -> list[dict]:
    """The example pipeline and its Secrets, pointed at this stack's MinIO, Kafka and chDB."""
    docs = [d for d in yaml.safe_load_all(pipeline_file.read_text()) if d]
    minio, kafka, clickhouse = records["minio"], records["kafka"], records["clickhouse"]
    for doc in docs:
        if doc["kind"] == naming.KIND:
            doc["spec"]["lake"]["endpoint"] = minio.endpoints["url"]
            doc["spec"]["kafka"]["bootstrapServers"] = kafka.endpoints["bootstrap"]
        elif doc["kind"] == "Secret" and "dsn" in doc.get("stringData", {}):
            doc["stringData"]["dsn"] = clickhouse.endpoints["dsn"]
        elif doc["kind"] == "Secret":
            doc["stringData"] = {
                "AWS_ACCESS_KEY_ID": minio.credentials["access_key"],
                "AWS_SECRET_ACCESS_KEY": minio.credentials["secret_key"],
            }
    return docs


def pipeline_of(docs: list[dict]) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == naming.KIND)


class ControlPlane:
    """Operator + local Strimzi threads against the stack's API server; a context manager."""

    def __init__(self, records: dict[str, ServiceRecord], stack_dir: Path | None = None) -> None:
        self.stack_dir = stack_dir  # set: the operator's /metrics is published to the stack's Prometheus
        kubeconfig = records["kube"].endpoints["kubeconfig"]
        os.environ["KUBECONFIG"] = kubeconfig  # kopf's login and the operator's client read it
        self.api = config.new_client_from_config(config_file=kubeconfig)
        self.strimzi = LocalStrimzi(
            self.api, records["kafka"].endpoints["bootstrap"], records["connect"].endpoints["rest"]
        )
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._operate, name="fraudlake-operator", daemon=True)
        self._error: BaseException | None = None

    def __enter__(self) -> ControlPlane:
        self.install_crd()
        self.strimzi.__enter__()
        # The operator's /metrics on a known free port, not its in-cluster default (9090, Prometheus' own),
        # nor 0 (any port, which the test session sets for its operators): the port is published below.
        if os.environ.get(OPERATOR_METRICS_PORT_ENV, "0") in ("0", ""):
            os.environ[OPERATOR_METRICS_PORT_ENV] = str(free_port())
        self._thread.start()
        try:
            if not self._ready.wait(60):
                raise RuntimeError(f"the operator did not start within 60s ({self._error or 'no error'})")
            self._publish_metrics()
        except BaseException:
            self.__exit__()  # `with` calls __exit__ only after __enter__ returned
            raise
        return self

    def _publish_metrics(self) -> None:
        from fraudlake.operator.handlers import SETTINGS  # loaded by now: the operator thread imported it

        if self.stack_dir is not None and SETTINGS.metrics_port:
            job = ScrapeJob(OPERATOR_JOB, (f"127.0.0.1:{SETTINGS.metrics_port}",))
            publish_targets(self.stack_dir, "operator", [job])

    def __exit__(self, *_: object) -> None:
        if self.stack_dir is not None:
            withdraw_targets(self.stack_dir, "operator")
        self._stop.set()
        self._thread.join(timeout=30)
        self.strimzi.__exit__()

    def _operate(self) -> None:
        import kopf

        import fraudlake.operator.handlers  # noqa: F401 - registers the handlers

        try:
            asyncio.run(
                kopf.operator(
                    standalone=True,
                    clusterwide=True,
                    stop_flag=self._stop,
                    ready_flag=self._ready,
                    liveness_endpoint=None,
                )
            )
        except BaseException as exc:
            self._error = exc
            raise

    def install_crd(self) -> None:
        crd = yaml.safe_load(packaged_crd_yaml())
        api = client.ApiextensionsV1Api(self.api)
        try:
            api.create_custom_resource_definition(crd)
        except ApiException as exc:
            if exc.status != 409:
                raise
            current = api.read_custom_resource_definition(crd["metadata"]["name"]).metadata
            assert current is not None  # the API server always returns an object's metadata
            crd["metadata"]["resourceVersion"] = current.resource_version
            api.replace_custom_resource_definition(crd["metadata"]["name"], crd)
        _wait(lambda: _crd_established(api, crd["metadata"]["name"]), 60, "the FraudPipeline CRD")

    def apply(self, docs: list[dict]) -> None:
        """Create-or-replace each document (namespaces first), like `kubectl apply` for these kinds."""
        core, custom = client.CoreV1Api(self.api), client.CustomObjectsApi(self.api)
        for doc in sorted(docs, key=lambda d: d["kind"] != "Namespace"):
            meta = doc["metadata"]
            if doc["kind"] == "Namespace":
                # Plain dicts as bodies: the client sends them as they are, in every client version
                # (the models' model_validate exists from kubernetes 37 only; the lock has 36).
                _ignore_conflict(lambda body=doc: core.create_namespace(body))
            elif doc["kind"] == "Secret":
                ns, secret = meta["namespace"], doc
                owner = client.V1Namespace(metadata=client.V1ObjectMeta(name=ns))
                _ignore_conflict(lambda body=owner: core.create_namespace(body))
                try:
                    core.create_namespaced_secret(ns, secret)
                except ApiException as exc:
                    if exc.status != 409:
                        raise
                    core.replace_namespaced_secret(meta["name"], ns, secret)
            else:
                args = (naming.GROUP, naming.VERSION, meta["namespace"], naming.PLURAL)
                try:
                    custom.create_namespaced_custom_object(*args, doc)
                except ApiException as exc:
                    if exc.status != 409:
                        raise
                    current = cast(dict[str, Any], custom.get_namespaced_custom_object(*args, meta["name"]))
                    doc["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
                    custom.replace_namespaced_custom_object(*args, meta["name"], doc)

    def wait_ready(self, namespace: str, name: str, timeout: float) -> dict[str, Any]:
        """Until the pipeline's Ready condition is True for its current generation (kubectl wait).

        Raises PipelineNotReadyError after `timeout` seconds, or as soon as the operator has stopped,
        saying why: the first part that is not ready and the children holding it back.
        """
        custom = client.CustomObjectsApi(self.api)
        deadline = time.monotonic() + timeout
        while True:
            pipeline = self._read_pipeline(custom, namespace, name)
            if pipeline is not None and is_ready(pipeline):
                return pipeline
            if not self._thread.is_alive():
                raise PipelineNotReadyError(f"the operator stopped ({self._error or 'no error'})")
            if time.monotonic() >= deadline:
                children = self._children(custom, namespace, name)
                raise PipelineNotReadyError(
                    f"pipeline {namespace}/{name} not Ready after {timeout:.0f} s: "
                    + not_ready_reason(pipeline, children)
                )
            time.sleep(0.5)

    @staticmethod
    def _read_pipeline(custom: client.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            # Custom objects come back as their JSON dict (the client types them `object`).
            return cast(
                dict[str, Any],
                custom.get_namespaced_custom_object(
                    naming.GROUP, naming.VERSION, namespace, naming.PLURAL, name
                ),
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    @staticmethod
    def _children(custom: client.CustomObjectsApi, namespace: str, name: str) -> list[dict[str, Any]]:
        """The pipeline's KafkaTopics and KafkaConnectors, wherever they live (found by their labels)."""
        selector = naming.child_selector(namespace, name)
        found: list[dict[str, Any]] = []
        for plural in ("kafkatopics", "kafkaconnectors"):
            listing = cast(
                dict[str, Any],
                custom.list_cluster_custom_object(
                    naming.STRIMZI_GROUP, naming.STRIMZI_VERSION, plural, label_selector=selector
                ),
            )
            found += listing.get("items", [])
        return found


class PipelineNotReadyError(Exception):
    """The demo's pipeline did not become Ready; the message names the part and the objects why."""


def is_ready(pipeline: Mapping[str, Any]) -> bool:
    """Ready True for the pipeline's current generation."""
    status = pipeline.get("status") or {}
    observed = status.get("observedGeneration") == pipeline["metadata"].get("generation")
    return observed and conditions.is_true(status.get("conditions"), READY)


# The kind of child each part's readiness depends on.
_PART_CHILDREN = {TOPICS_READY: "KafkaTopic", CONNECTORS_READY: "KafkaConnector"}


def not_ready_reason(pipeline: Mapping[str, Any] | None, children: Iterable[Mapping[str, Any]]) -> str:
    """Why a FraudPipeline is not Ready, in one line a person can act on.

    The first part that is not True, then the children of its kind that are not Ready with their
    own reasons ("TopicsReady False — KafkaTopic fraudlake.fraud.demo.users: …"), or the part's
    message when no child explains it (TablesReady).
    """
    if pipeline is None:
        return "it does not exist"
    status = pipeline.get("status") or {}
    generation = pipeline["metadata"].get("generation")
    if status.get("observedGeneration") != generation:
        return f"the operator has not reported on generation {generation} yet"
    found = status.get("conditions") or []
    parts = [conditions.find(found, part) for part in PARTS]
    failing = next((c for c in parts if c and c.get("status") != "True"), None)
    failing = failing or conditions.find(found, READY)
    if failing is None:
        return "the operator has reported no conditions yet"
    culprits = _unready_children(children, _PART_CHILDREN.get(failing["type"], ""))
    detail = "; ".join(culprits) or failing.get("message") or failing.get("reason", "")
    return f"{failing['type']} {failing.get('status')} — {detail}"


def _unready_children(children: Iterable[Mapping[str, Any]], kind: str) -> list[str]:
    """One "<kind> <names>: <why>" per distinct reason among the children of `kind` that are not Ready.

    Children refused for the same reason (every topic of a pipeline asking for 3 replicas) share
    one line, so the reason is read once.
    """
    names_by_why: dict[str, list[str]] = {}
    for child in children:
        if child.get("kind") != kind:
            continue
        ready, why = conditions.strimzi_readiness(child)
        if not ready:
            names_by_why.setdefault(why, []).append(child["metadata"]["name"])
    return [f"{kind} {', '.join(names)}: {why}" for why, names in names_by_why.items()]


def _crd_established(api: client.ApiextensionsV1Api, name: str) -> bool:
    status = api.read_custom_resource_definition(name).status
    found = (status.conditions if status else None) or []
    return any(c.type == "Established" and c.status == "True" for c in found)


def _ignore_conflict(call: Any) -> None:
    try:
        call()
    except ApiException as exc:
        if exc.status != 409:
            raise


def _wait(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except ApiException as exc:
            last = exc
        else:
            if result:
                return result
        time.sleep(0.5)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last})")
