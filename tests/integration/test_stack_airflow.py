"""The stack's Airflow: DAGs run in-process with dag.test() and show up in the api-server.

This is the local contract of DESIGN §10: the process that owns ClickHouse runs the DAG, the
api-server (a separate process on the same SQLite metadata DB) serves the run to the UI/REST API.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from fraudlake.local.stack.airflow_home import prepare_dag_test
from fraudlake.local.stack.service import ServiceRecord

pytestmark = pytest.mark.integration

FIXTURE_DAGS = Path(__file__).parent / "dags"
FIXTURE_BUNDLE = "fraudlake-tests"
SMOKE_DAG = "fraudlake_smoke"


@pytest.fixture(scope="module")
def import_errors(airflow: ServiceRecord) -> dict[str, dict[str, str]]:
    """Point this test process at the stack's metadata DB, fixture DAGs as their own bundle."""
    home = Path(airflow.endpoints["airflow_home"])
    return prepare_dag_test(home, extra_bundles={FIXTURE_BUNDLE: FIXTURE_DAGS})


@pytest.fixture(scope="module")
def api(airflow: ServiceRecord) -> httpx.Client:
    """A REST client authenticated as the stack's admin with a JWT from /auth/token."""
    url = airflow.endpoints["url"]
    creds = {"username": airflow.credentials["username"], "password": airflow.credentials["password"]}
    response = httpx.post(f"{url}/auth/token", json=creds, timeout=30.0)
    assert response.status_code == 201, response.text
    token = response.json()["access_token"]
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30.0)


def test_fixture_dags_import_without_errors(import_errors: dict[str, dict[str, str]]) -> None:
    from airflow.dag_processing.dagbag import DagBag

    assert import_errors[FIXTURE_BUNDLE] == {}
    bag = DagBag(FIXTURE_DAGS)
    assert bag.import_errors == {}
    assert SMOKE_DAG in bag.dags


def test_dag_test_run_is_recorded_where_the_api_server_reads(
    import_errors: dict[str, dict[str, str]], api: httpx.Client
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    run = DagBag(FIXTURE_DAGS).dags[SMOKE_DAG].test()
    assert run.state == "success"

    runs = api.get(f"/api/v2/dags/{SMOKE_DAG}/dagRuns").raise_for_status().json()["dag_runs"]
    assert {r["dag_run_id"]: r["state"] for r in runs}.get(run.run_id) == "success"
    xcom = api.get(
        f"/api/v2/dags/{SMOKE_DAG}/dagRuns/{quote(run.run_id, safe='')}"
        "/taskInstances/double/xcomEntries/return_value",
        params={"deserialize": True},
    )
    assert xcom.raise_for_status().json()["value"] == 42  # the task really ran: 21 * 2


def test_api_rejects_wrong_password_and_missing_token(airflow: ServiceRecord) -> None:
    url = airflow.endpoints["url"]
    wrong = {"username": airflow.credentials["username"], "password": "not-the-password"}
    assert httpx.post(f"{url}/auth/token", json=wrong, timeout=30.0).status_code == 401
    assert httpx.get(f"{url}/api/v2/dags", timeout=30.0).status_code == 401


def test_health_reports_database_and_dag_processor_heartbeat(airflow: ServiceRecord) -> None:
    health = httpx.get(f"{airflow.endpoints['url']}/api/v2/monitor/health", timeout=30.0).json()
    assert health["metadatabase"]["status"] == "healthy"
    # Its status flips to unhealthy when a heartbeat is a few seconds late under load; that it beats
    # at all proves it runs against this metadata DB.
    assert health["dag_processor"]["latest_dag_processor_heartbeat"] is not None
