"""Airflow for the local stack: api-server (UI + REST API) and dag-processor on a SQLite metadata DB.

No scheduler on purpose. chDB allows one engine per process, so locally the DAGs run inside the
process that owns ClickHouse through ``dag.test()`` (see fraudlake.local.stack.airflow_home),
and this UI shows those runs from the shared metadata DB. A scheduler would also pick up the
RUNNING dag runs that ``dag.test()`` creates and execute their tasks a second time in its own
workers, which cannot open the chDB data directory. In Kubernetes the scheduler runs as usual.

Auth: Airflow 3's SimpleAuthManager with one user `admin` (role admin) whose password is generated
per stack and stored in AIRFLOW_HOME (`simple_auth_manager_passwords.json`, mode 0600); REST calls
get a JWT from ``POST /auth/token`` with that user and password.
"""

from __future__ import annotations

import importlib.util
import sys

import httpx
from rich.console import Console

from fraudlake.local.stack.airflow_home import (
    ADMIN_USER,
    DAGS_BUNDLE,
    DAGS_FOLDER,
    admin_password,
    airflow_env,
)
from fraudlake.local.stack.errors import StackError
from fraudlake.local.stack.process import free_port, run_checked, wait_until
from fraudlake.local.stack.service import Service, ServiceRecord, StackContext

# Importing Airflow alone takes 10-30 s on a busy 2-core machine; migrating a fresh DB a minute more.
_START_TIMEOUT = 300.0
# The interpreter running the stack has Airflow installed; `airflow` need not be on PATH.
_AIRFLOW = (sys.executable, "-m", "airflow")


class AirflowService(Service):
    name = "airflow"
    summary = "Apache Airflow 3 api-server + dag-processor (SQLite); DAGs run in-process via dag.test()"

    def install(self, console: Console) -> None:
        if importlib.util.find_spec("airflow") is None:
            raise StackError("the apache-airflow package is missing: run `uv sync --extra dev`")

    def start(self, ctx: StackContext, deps: dict[str, ServiceRecord]) -> ServiceRecord:
        home = ctx.data_dir(self.name)
        env = airflow_env(home)
        DAGS_FOLDER.mkdir(exist_ok=True)  # an absent bundle folder makes the dag-processor fail
        api_log, processor_log = ctx.log("airflow-api-server"), ctx.log("airflow-dag-processor")
        # Idempotent: creates the schema on first start, applies pending migrations afterwards.
        run_checked([*_AIRFLOW, "db", "migrate"], api_log, "airflow db migrate", env=env)

        port = ctx.requested_ports.get(self.name) or free_port()
        url = f"http://127.0.0.1:{port}"
        api_server = [*_AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(port)]
        # [api] host also tells SimpleAuthManager this is a local, not a production-shaped, set-up.
        api_env = {**env, "AIRFLOW__API__HOST": "127.0.0.1", "AIRFLOW__API__BASE_URL": url}
        api_pid = ctx.spawn(self.name, [*api_server, "--workers", "1"], api_log, env=api_env)
        # Only the dags/ bundle: bundles registered by in-process callers (test fixtures) stay active.
        dag_processor = [*_AIRFLOW, "dag-processor", "--bundle-name", DAGS_BUNDLE]
        processor_pid = ctx.spawn(self.name, dag_processor, processor_log, env=env)
        record = ServiceRecord(
            self.name,
            pids=[api_pid, processor_pid],
            endpoints={"url": url, "airflow_home": str(home)},
            credentials={"username": ADMIN_USER, "password": admin_password(home)},
            log=str(api_log),
        )
        try:
            wait_until(
                self.name,
                lambda: _api_healthy(url),
                api_pid,
                api_log,
                _START_TIMEOUT,
                "for /api/v2/monitor/health",
            )
            wait_until(
                self.name,
                lambda: _processor_healthy(url),
                processor_pid,
                processor_log,
                _START_TIMEOUT,
                "for the dag-processor heartbeat",
            )
        except BaseException:  # a failed start or Ctrl-C: nothing of it stays behind
            self.stop(record)
            raise
        return record

    def healthy(self, record: ServiceRecord) -> bool:
        # Not the dag-processor's heartbeat: on a busy machine it lags past Airflow's threshold and
        # `up` would restart a working stack. Its process being alive is the check that matters.
        try:
            return record.alive() and _api_healthy(record.endpoints["url"])
        except httpx.HTTPError:
            return False


def _health(url: str) -> dict:
    response = httpx.get(f"{url}/api/v2/monitor/health", timeout=5.0)
    response.raise_for_status()
    return response.json()


def _api_healthy(url: str) -> bool:
    return _health(url)["metadatabase"]["status"] == "healthy"


def _processor_healthy(url: str) -> bool:
    health = _health(url)
    return health["metadatabase"]["status"] == "healthy" and health["dag_processor"]["status"] == "healthy"
