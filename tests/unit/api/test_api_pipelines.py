"""GET /v1/pipelines: FraudPipeline objects as `kubectl get fp` facts plus conditions; readable failures.

The router is tested through the app with a fake source in place of the Kubernetes API, and the
Kubernetes client's own failures (refused credentials, missing CRD, nothing listening) through the
real `kubernetes` client: a fake custom-objects API raising its exceptions, and a kubeconfig that
points at a closed port.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from api_kit import AUTH
from fastapi import FastAPI
from fastapi.testclient import TestClient
from kubernetes.client.exceptions import ApiException

from fraudlake.api.pipelines import KubePipelineSource
from fraudlake.api.settings import SettingsError, load_settings
from fraudlake.local.stack.process import free_port

pytestmark = pytest.mark.unit


def fraud_pipeline(namespace: str, name: str, generation: int = 2, **status: Any) -> dict[str, Any]:
    """A FraudPipeline object as the Kubernetes API returns it (camelCase status, as the operator writes)."""
    return {
        "apiVersion": "fraudlake.io/v1alpha1",
        "kind": "FraudPipeline",
        "metadata": {
            "namespace": namespace,
            "name": name,
            "generation": generation,
            "creationTimestamp": "2026-11-30T09:12:44Z",
        },
        "spec": {},
        "status": status,
    }


def condition(type_: str, status: str, reason: str, message: str = "") -> dict[str, str]:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2026-12-01T10:02:13Z",
    }


READY_CARDS = fraud_pipeline(
    "fraud",
    "cards",
    observedGeneration=2,
    topicsReady="4/4",
    tablesReady="13/13",
    topics=["fraudlake.fraud.cards.transactions"],
    connector="fraudlake-fraud-cards-lake",
    database="cards",
    tables=["alerts", "transactions"],
    conditions=[
        condition("Ready", "True", "Reconciled", "all parts ready"),
        condition("TopicsReady", "True", "Ok"),
    ],
)
FAILING_ATM = fraud_pipeline(
    "fraud",
    "atm",
    generation=5,
    observedGeneration=4,
    topicsReady="3/4",
    conditions=[condition("Ready", "False", "TopicsNotReady", "1 topic not ready")],
)
NEW_LOANS = fraud_pipeline("banking", "loans", generation=1)  # not reconciled yet: no status at all


class FakeSource:
    """The Kubernetes API's FraudPipelines as a list in memory; records what was asked."""

    def __init__(self, objects: list[dict[str, Any]]):
        self.objects = objects
        self.asked: list[tuple[str, ...]] = []

    def list(self, namespace: str | None) -> list[dict[str, Any]]:
        self.asked.append(("list", namespace or "*"))
        return [o for o in self.objects if namespace in (None, o["metadata"]["namespace"])]

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.asked.append(("get", namespace, name))
        matches = [
            o
            for o in self.objects
            if (o["metadata"]["namespace"], o["metadata"]["name"]) == (namespace, name)
        ]
        return matches[0] if matches else None


def kubeconfig_file(path: Path, server: str) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
                "users": [{"name": "u", "user": {"token": "unit-test-token"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    return path


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Path:
    """A kubeconfig whose server port has nothing listening."""
    return kubeconfig_file(tmp_path / "kubeconfig", f"https://127.0.0.1:{free_port()}")


@pytest.fixture
def serve(make_app: Callable[..., FastAPI]) -> Iterator[Callable[..., TestClient]]:
    """`serve(source, **settings)`: an app client reading pipelines from `source` (None: the real one)."""
    clients: list[TestClient] = []

    def start(source: Any = None, **settings: Any) -> TestClient:
        app = make_app(startup_model_wait_seconds=0, **settings)
        app.state.services.pipelines = source
        clients.append(TestClient(app).__enter__())
        return clients[-1]

    yield start
    for client in clients:
        client.__exit__(None, None, None)


def test_list_shows_the_printer_columns_generations_and_conditions(
    serve: Callable[..., TestClient], kubeconfig: Path
) -> None:
    source = FakeSource([READY_CARDS, NEW_LOANS, FAILING_ATM])
    response = serve(source, kubeconfig=str(kubeconfig)).get("/v1/pipelines", headers=AUTH)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["namespace"] is None
    assert source.asked == [("list", "*")]
    assert [(p["namespace"], p["name"]) for p in body["items"]] == [
        ("banking", "loans"),
        ("fraud", "atm"),
        ("fraud", "cards"),
    ]
    loans, atm, cards = body["items"]
    assert cards["ready"] is True
    assert cards["reason"] == "Reconciled"
    assert (cards["topics_ready"], cards["tables_ready"]) == ("4/4", "13/13")
    assert cards["up_to_date"] is True
    assert cards["connector"] == "fraudlake-fraud-cards-lake"
    assert cards["conditions"][0] == {
        "type": "Ready",
        "status": "True",
        "reason": "Reconciled",
        "message": "all parts ready",
        "last_transition_time": "2026-12-01T10:02:13Z",
    }
    assert (
        atm["ready"],
        atm["reason"],
        atm["generation"],
        atm["observed_generation"],
        atm["up_to_date"],
    ) == (
        False,
        "TopicsNotReady",
        5,
        4,
        False,
    )
    assert (loans["ready"], loans["reason"], loans["conditions"], loans["observed_generation"]) == (
        False,
        "",
        [],
        None,
    )
    assert loans["up_to_date"] is False


def test_one_pipeline_by_namespace_and_name_or_404(
    serve: Callable[..., TestClient], kubeconfig: Path
) -> None:
    client = serve(FakeSource([READY_CARDS, FAILING_ATM]), kubeconfig=str(kubeconfig))
    one = client.get("/v1/pipelines/fraud/atm", headers=AUTH)
    assert one.status_code == 200
    assert one.json()["name"] == "atm"
    assert one.json()["topics_ready"] == "3/4"
    missing = client.get("/v1/pipelines/fraud/nope", headers=AUTH)
    assert missing.status_code == 404
    assert missing.json()["message"] == "no FraudPipeline nope in namespace fraud"
    bad = client.get("/v1/pipelines/Fraud_NS/atm", headers=AUTH)
    assert bad.status_code == 422


def test_namespace_filter_and_the_configured_namespace_limit(
    serve: Callable[..., TestClient], kubeconfig: Path
) -> None:
    source = FakeSource([READY_CARDS, NEW_LOANS])
    client = serve(source, kubeconfig=str(kubeconfig))
    assert [
        p["name"] for p in client.get("/v1/pipelines?namespace=banking", headers=AUTH).json()["items"]
    ] == ["loans"]
    limited = serve(
        FakeSource([READY_CARDS, NEW_LOANS]), kubeconfig=str(kubeconfig), pipelines_namespace="fraud"
    )
    body = limited.get("/v1/pipelines", headers=AUTH).json()
    assert body["namespace"] == "fraud"
    assert [p["name"] for p in body["items"]] == ["cards"]
    other = limited.get("/v1/pipelines/banking/loans", headers=AUTH)
    assert other.status_code == 404
    assert "namespace fraud only" in other.json()["message"]


def test_needs_an_api_key(serve: Callable[..., TestClient], kubeconfig: Path) -> None:
    assert serve(FakeSource([]), kubeconfig=str(kubeconfig)).get("/v1/pipelines").status_code == 401


def test_without_kubeconfig_the_endpoint_says_it_is_not_configured(serve: Callable[..., TestClient]) -> None:
    response = serve().get("/v1/pipelines", headers=AUTH)
    assert response.status_code == 503
    assert response.json()["error"] == "pipelines_unavailable"
    assert "FRAUDLAKE_KUBECONFIG" in response.json()["message"]


def test_nothing_listening_is_a_503_with_the_cause_not_a_traceback(
    serve: Callable[..., TestClient], kubeconfig: Path
) -> None:
    response = serve(kubeconfig=str(kubeconfig)).get("/v1/pipelines", headers=AUTH)
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["error"] == "kubernetes_unreachable"
    assert body["message"].startswith("cannot reach the Kubernetes API at https://127.0.0.1:")
    assert "Connection refused" in body["message"]
    assert "Traceback" not in body["message"]


def test_in_cluster_outside_a_cluster_is_not_configured(serve: Callable[..., TestClient]) -> None:
    response = serve(kubeconfig="in-cluster").get("/v1/pipelines", headers=AUTH)
    assert response.status_code == 503
    assert response.json()["error"] == "pipelines_unavailable"
    assert "FRAUDLAKE_KUBECONFIG=in-cluster" in response.json()["message"]


def test_a_kubeconfig_that_does_not_exist_fails_at_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FRAUDLAKE_API_KEYS", AUTH["X-API-Key"])
    monkeypatch.setenv("FRAUDLAKE_KUBECONFIG", str(tmp_path / "missing"))
    with pytest.raises(SettingsError, match=r"FRAUDLAKE_KUBECONFIG: .*no file at"):
        load_settings()


class RaisingCustomApi:
    """The kubernetes CustomObjectsApi failing every call with `error`."""

    def __init__(self, error: Exception):
        self.error = error

    def list_cluster_custom_object(self, *args: Any, **kwargs: Any) -> Any:
        raise self.error

    list_namespaced_custom_object = get_namespaced_custom_object = list_cluster_custom_object


def api_exception(status: int, reason: str, body: str) -> ApiException:
    exc = ApiException(status=status, reason=reason)
    exc.body = body
    return exc


FORBIDDEN = api_exception(
    403,
    "Forbidden",
    json.dumps(
        {"kind": "Status", "message": 'fraudpipelines.fraudlake.io is forbidden: User "api" cannot list'}
    ),
)


@pytest.mark.parametrize(
    ("error", "status", "code", "says"),
    [
        (FORBIDDEN, 502, "kubernetes_error", "need get and list on fraudpipelines.fraudlake.io"),
        (
            api_exception(404, "Not Found", "404 page not found\n"),
            502,
            "kubernetes_error",
            "install the FraudPipeline CRD",
        ),
        (
            api_exception(500, "Internal Server Error", "etcd timeout"),
            502,
            "kubernetes_error",
            "(500 Internal",
        ),
    ],
)
def test_kubernetes_refusals_are_502_with_what_to_do(
    serve: Callable[..., TestClient], kubeconfig: Path, error: ApiException, status: int, code: str, says: str
) -> None:
    source = KubePipelineSource(RaisingCustomApi(error), "https://k8s.example:6443")
    client = serve(source, kubeconfig=str(kubeconfig))
    for path in ("/v1/pipelines", "/v1/pipelines/fraud/cards"):
        response = client.get(path, headers=AUTH)
        assert response.status_code == status, response.text
        assert response.json()["error"] == code
        assert says in response.json()["message"]
        assert "https://k8s.example:6443" in response.json()["message"]


def test_a_missing_object_is_none_but_a_missing_crd_is_an_error() -> None:
    missing = api_exception(404, "Not Found", json.dumps({"kind": "Status", "details": {"name": "cards"}}))
    assert KubePipelineSource(RaisingCustomApi(missing), "https://k8s").get("fraud", "cards") is None


def test_openapi_documents_the_routes_with_an_example(serve: Callable[..., TestClient]) -> None:
    schema = serve().get("/openapi.json").json()
    listing = schema["paths"]["/v1/pipelines"]["get"]
    assert {"200", "401", "502", "503"} <= set(listing["responses"])
    assert "/v1/pipelines/{namespace}/{name}" in schema["paths"]
    assert schema["components"]["schemas"]["Pipeline"]["examples"][0]["topics_ready"] == "4/4"
