"""Shared pieces of the FraudPipeline integration tests: kubectl, the CRD, manifests, polling."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from fraudlake.local.stack.gotools import kubectl_binary
from fraudlake.local.stack.service import ServiceRecord
from fraudlake.operator.crd_schema import packaged_crd_yaml
from fraudlake.pipeline import naming

EXAMPLES = Path(__file__).resolve().parents[2] / "operator" / "examples"
T = TypeVar("T")


class Kubectl:
    """The real kubectl against the test API server, with its own discovery cache."""

    def __init__(self, kubeconfig: str, cache_dir: Path) -> None:
        self.base = [str(kubectl_binary()), f"--kubeconfig={kubeconfig}", f"--cache-dir={cache_dir}"]

    def __call__(
        self, *args: str, stdin: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.base, *args], input=stdin, capture_output=True, text=True, timeout=timeout, check=False
        )

    def apply(
        self, manifest: dict[str, Any] | list[dict[str, Any]], *flags: str
    ) -> subprocess.CompletedProcess[str]:
        docs = manifest if isinstance(manifest, list) else [manifest]
        return self("apply", *flags, "-f", "-", stdin=yaml.safe_dump_all(docs))


def eventually(check: Callable[[], T], timeout: float = 60, interval: float = 0.3, what: str = "") -> T:
    """Poll `check` until it returns a truthy value (returned) or raise with the last value/error."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (AssertionError, ApiException, KeyError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or check}: last {last!r}")


@pytest.fixture(scope="module")
def api(kube: ServiceRecord) -> Iterator[client.ApiClient]:
    # kopf's login and the operator's own client read $KUBECONFIG.
    previous = os.environ.get("KUBECONFIG")
    os.environ["KUBECONFIG"] = kube.endpoints["kubeconfig"]
    yield config.new_client_from_config(config_file=kube.endpoints["kubeconfig"])
    if previous is None:
        os.environ.pop("KUBECONFIG", None)
    else:
        os.environ["KUBECONFIG"] = previous


@pytest.fixture(scope="module")
def kubectl(kube: ServiceRecord, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return Kubectl(kube.endpoints["kubeconfig"], tmp_path_factory.mktemp("kubectl-cache"))


@pytest.fixture(scope="module")
def crd(api: client.ApiClient, kubectl: Kubectl) -> dict[str, Any]:
    """The FraudPipeline CRD installed with kubectl, established and discoverable."""
    manifest = yaml.safe_load(packaged_crd_yaml())
    result = kubectl.apply(manifest, "--server-side", "--force-conflicts")
    assert result.returncode == 0, result.stderr
    wait = kubectl(
        "wait", "--for=condition=Established", f"crd/{manifest['metadata']['name']}", "--timeout=60s"
    )
    assert wait.returncode == 0, wait.stderr
    eventually(lambda: kubectl("get", "fp", "-A").returncode == 0, 30, what="fp to be discoverable")
    return manifest


def new_namespace(api: client.ApiClient, prefix: str) -> str:
    """A fresh namespace (a bare API server never finishes namespace deletion, so names are unique)."""
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(api).create_namespace({"metadata": {"name": name}})
    return name


def dsn_secret(namespace: str, dsn: str, name: str = "clickhouse-dsn") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "stringData": {"dsn": dsn},
    }


def pipeline_manifest(
    namespace: str, kafka_namespace: str, name: str, database: str, **spec: Any
) -> dict[str, Any]:
    """A small FraudPipeline whose Kafka and Connect clusters live in `kafka_namespace`."""
    base = {
        "kafka": {
            "clusterRef": {"name": "fraudlake", "namespace": kafka_namespace},
            "brokers": 1,
            "topics": {
                "transactions": {"partitions": 3, "replicas": 1, "retention": "7d"},
                "cards": {"replicas": 1},
                "users": {"replicas": 1},
                "alerts": {"replicas": 1},
            },
        },
        "lake": {
            "connectClusterRef": {"name": "fraudlake-connect", "namespace": kafka_namespace},
            "bucket": "fraudlake",
            "prefix": f"pipelines/{name}",
            "endpoint": "http://127.0.0.1:9000",
            "credentialsSecret": {"name": "lake-credentials"},
        },
        "clickhouse": {"endpointSecret": {"name": "clickhouse-dsn"}, "database": database},
    }
    return {
        "apiVersion": naming.API_VERSION,
        "kind": naming.KIND,
        "metadata": {"name": name, "namespace": namespace},
        "spec": _merge(base, spec),
    }


def example_documents(namespace: str, kafka_namespace: str, dsn: str, database: str) -> list[dict[str, Any]]:
    """operator/examples/*.yaml moved into the test's namespaces, with the test's ClickHouse DSN."""
    docs = list(yaml.safe_load_all((EXAMPLES / "secrets.yaml").read_text()))
    docs += list(yaml.safe_load_all((EXAMPLES / "pipeline.yaml").read_text()))
    out = []
    for doc in docs:
        if doc["kind"] == "Namespace":
            continue
        doc = copy.deepcopy(doc)
        doc["metadata"]["namespace"] = (
            kafka_namespace if doc["metadata"]["namespace"] == "kafka" else namespace
        )
        if doc["kind"] == "Secret" and "dsn" in doc["stringData"]:
            doc["stringData"]["dsn"] = dsn
        if doc["kind"] == naming.KIND:
            spec = doc["spec"]
            spec["kafka"]["clusterRef"]["namespace"] = kafka_namespace
            spec["lake"]["connectClusterRef"]["namespace"] = kafka_namespace
            spec["clickhouse"]["database"] = database
        out.append(doc)
    return out


def get_pipeline(api: client.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    return client.CustomObjectsApi(api).get_namespaced_custom_object(
        naming.GROUP, naming.VERSION, namespace, naming.PLURAL, name
    )


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    for cond in (obj.get("status") or {}).get("conditions", []):
        if cond["type"] == type_:
            return cond
    return {}


def strimzi(api: client.ApiClient, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        return client.CustomObjectsApi(api).get_namespaced_custom_object(
            naming.STRIMZI_GROUP, naming.STRIMZI_VERSION, namespace, plural, name
        )
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def events(api: client.ApiClient, namespace: str, name: str) -> list[tuple[str, str]]:
    items = client.CoreV1Api(api).list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={name}"
    )
    return [(e.reason, e.message) for e in items.items]


def rejection_message(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, f"accepted: {result.stdout}"
    return result.stderr


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=1, default=str)
