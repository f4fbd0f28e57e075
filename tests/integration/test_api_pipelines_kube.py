"""GET /v1/pipelines against the real kube-apiserver with the FraudPipeline CRD installed.

No operator runs: the test writes the status through the status subresource the way the operator
does (conditions built by `fraudlake.operator.conditions`), so what the API returns is exactly what
the cluster stores. A kubeconfig with a wrong token shows the API server's refusal as a 502.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from fraudpipeline_kit import Kubectl, api, crd, kubectl, new_namespace, pipeline_manifest
from kubernetes import client

from fraudlake.api.main import create_app
from fraudlake.api.settings import ApiSettings
from fraudlake.local.stack.service import ServiceRecord
from fraudlake.ml.registry import MemoryStore, ModelRegistry
from fraudlake.operator import conditions
from fraudlake.pipeline import naming
from fraudlake.pipeline.status import CONNECTORS_READY, TABLES_READY, TOPICS_READY

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
__all__ = ["api", "crd", "kubectl"]  # fixtures

API_KEY = "integration-pipelines-key-93c1d0"
AUTH = {"X-API-Key": API_KEY}


def serve(kubeconfig: str) -> TestClient:
    settings = ApiSettings(
        api_keys=API_KEY, kubeconfig=kubeconfig, startup_model_wait_seconds=0, model_poll_seconds=3600
    )
    return TestClient(create_app(settings, ModelRegistry(MemoryStore(), "models")))


@pytest.fixture(scope="module")
def namespace(api: client.ApiClient, kubectl: Kubectl, crd: dict[str, Any]) -> str:
    """A namespace with two FraudPipelines: `cards` reconciled with a status, `atm` never reconciled."""
    name = new_namespace(api, "api-fp")
    for pipeline in ("cards", "atm"):
        result = kubectl.apply(pipeline_manifest(name, name, pipeline, f"db_{pipeline}"))
        assert result.returncode == 0, result.stderr
    at = conditions.now()
    parts = [
        conditions.condition(TOPICS_READY, True, "TopicsReady", "4/4 topics ready"),
        conditions.condition(CONNECTORS_READY, False, "ConnectorNotRunning", "task 0 FAILED"),
        conditions.condition(TABLES_READY, True, "TablesReady", "13/13 present"),
    ]
    status = {
        "observedGeneration": 1,
        "topicsReady": "4/4",
        "tablesReady": "13/13",
        "connector": naming.connector_name(name, "cards"),
        "conditions": conditions.merge(None, [*parts, conditions.ready_from_parts(parts)], at),
    }
    client.CustomObjectsApi(api).patch_namespaced_custom_object_status(
        naming.GROUP, naming.VERSION, name, naming.PLURAL, "cards", {"status": status}
    )
    return name


@pytest.fixture(scope="module")
def http(kube: ServiceRecord) -> Iterator[TestClient]:
    with serve(kube.endpoints["kubeconfig"]) as test_client:
        yield test_client


def test_lists_the_pipelines_with_their_stored_conditions(http: TestClient, namespace: str) -> None:
    response = http.get(f"/v1/pipelines?namespace={namespace}", headers=AUTH)
    assert response.status_code == 200, response.text
    atm, cards = response.json()["items"]
    assert (atm["name"], cards["name"]) == ("atm", "cards")
    assert (cards["ready"], cards["reason"]) == (False, "ConnectorNotRunning")
    assert (cards["topics_ready"], cards["tables_ready"]) == ("4/4", "13/13")
    assert (cards["generation"], cards["observed_generation"], cards["up_to_date"]) == (1, 1, True)
    assert [(c["type"], c["status"], c["reason"]) for c in cards["conditions"]] == [
        ("Ready", "False", "ConnectorNotRunning"),
        ("TopicsReady", "True", "TopicsReady"),
        ("ConnectorsReady", "False", "ConnectorNotRunning"),
        ("TablesReady", "True", "TablesReady"),
    ]
    assert all(c["last_transition_time"].endswith("Z") for c in cards["conditions"])
    assert (atm["ready"], atm["conditions"], atm["observed_generation"], atm["up_to_date"]) == (
        False,
        [],
        None,
        False,
    )


def test_all_namespaces_include_the_test_namespace(http: TestClient, namespace: str) -> None:
    items = http.get("/v1/pipelines", headers=AUTH).json()["items"]
    assert {("atm", namespace), ("cards", namespace)} <= {(p["name"], p["namespace"]) for p in items}


def test_one_pipeline_and_a_missing_one(http: TestClient, namespace: str) -> None:
    one = http.get(f"/v1/pipelines/{namespace}/cards", headers=AUTH)
    assert one.status_code == 200, one.text
    assert one.json()["connector"] == naming.connector_name(namespace, "cards")
    missing = http.get(f"/v1/pipelines/{namespace}/nope", headers=AUTH)
    assert missing.status_code == 404
    assert missing.json()["message"] == f"no FraudPipeline nope in namespace {namespace}"


def test_refused_credentials_are_a_502_that_says_so(kube: ServiceRecord, tmp_path: Path) -> None:
    config = yaml.safe_load(Path(kube.endpoints["kubeconfig"]).read_text())
    for user in config["users"]:
        user["user"] = {"token": "not-a-valid-token"}
    wrong = tmp_path / "kubeconfig"
    wrong.write_text(yaml.safe_dump(config))
    with serve(str(wrong)) as test_client:
        response = test_client.get("/v1/pipelines", headers=AUTH)
    assert response.status_code == 502, response.text
    assert response.json()["error"] == "kubernetes_error"
    assert "refused listing FraudPipelines in all namespaces (401 Unauthorized" in response.json()["message"]
