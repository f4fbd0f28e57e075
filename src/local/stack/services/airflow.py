"""Airflow for the local stack: api-server (UI + REST API) and dag-processor on a SQLite metadata DB.

Metrics: Airflow has no Prometheus endpoint; as the Helm chart does, a StatsD exporter (the chart's
release and its mappings from helm/values/airflow.yaml) receives every Airflow process's StatsD and
serves them to the stack's Prometheus as job `airflow`.

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
from pathlib import Path

import httpx
import yaml
from rich.console import Console

from fraudlake.local.stack.airflow_home import (
    ADMIN_USER,
    DAGS_BUNDLE,
    DAGS_FOLDER,
    STATSD_ADDRESS_FILE,
    admin_password,
    airflow_env,
)
from fraudlake.local.stack.errors import StackError
from fraudlake.local.stack.gotools import statsd_exporter_binary
from fraudlake.local.stack.paths import REPO_ROOT
from fraudlake.local.stack.process import free_port, run_checked, wait_until
from fraudlake.local.stack.service import ScrapeJob, Service, ServiceRecord, StackContext

# Importing Airflow alone takes 10-30 s on a busy 2-core machine; migrating a fresh DB a minute more.
_START_TIMEOUT = 300.0
# The interpreter running the stack has Airflow installed; `airflow` need not be on PATH.
_AIRFLOW = (sys.executable, "-m", "airflow")
AIRFLOW_VALUES = REPO_ROOT / "helm" / "values" / "airflow.yaml"


class AirflowService(Service):
    name = "airflow"
    summary = "Apache Airflow 3 api-server + dag-processor (SQLite); DAGs run in-process via dag.test()"

    def install(self, console: Console) -> None:
        if importlib.util.find_spec("airflow") is None:
            raise StackError("the apache-airflow package is missing: run `uv sync --extra dev`")
        statsd_exporter_binary(console)

    def start(self, ctx: StackContext, deps: dict[str, ServiceRecord]) -> ServiceRecord:
        home = ctx.data_dir(self.name)
        DAGS_FOLDER.mkdir(exist_ok=True)  # an absent bundle folder makes the dag-processor fail
        api_log, processor_log = ctx.log("airflow-api-server"), ctx.log("airflow-dag-processor")
        # Idempotent: creates the schema on first start, applies pending migrations afterwards.
        run_checked([*_AIRFLOW, "db", "migrate"], api_log, "airflow db migrate", env=airflow_env(home))
        # First of the long-lived processes, so that they all start with its address in their env.
        statsd_pid, statsd_metrics = self._start_statsd_exporter(ctx, home)
        env = airflow_env(home)

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
            pids=[statsd_pid, api_pid, processor_pid],
            endpoints={"url": url, "airflow_home": str(home), "statsd_metrics": statsd_metrics},
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

    def _start_statsd_exporter(self, ctx: StackContext, home: Path) -> tuple[int, str]:
        """The exporter on loopback (UDP in, /metrics out); its address goes where airflow_env finds it."""
        statsd_port, metrics_port = free_port(), free_port()
        mapping = home / "statsd-mapping.yaml"
        mapping.write_text(yaml.safe_dump({"mappings": statsd_mappings()}, sort_keys=False))
        argv = [
            str(statsd_exporter_binary(ctx.console)),
            f"--statsd.listen-udp=127.0.0.1:{statsd_port}",
            "--statsd.listen-tcp=",  # Airflow sends UDP only
            f"--web.listen-address=127.0.0.1:{metrics_port}",
            f"--statsd.mapping-config={mapping}",
        ]
        log = ctx.log("airflow-statsd-exporter")
        pid = ctx.spawn(self.name, argv, log)
        metrics = f"127.0.0.1:{metrics_port}"
        wait_until(
            self.name, lambda: _answers(f"http://{metrics}/metrics"), pid, log, 30, "for the StatsD exporter"
        )
        (home / STATSD_ADDRESS_FILE).write_text(f"127.0.0.1:{statsd_port}\n")
        return pid, metrics

    def scrape_jobs(self, record: ServiceRecord) -> list[ScrapeJob]:
        address = record.endpoints.get("statsd_metrics")
        return [ScrapeJob(self.name, (address,))] if address else []  # a record from before the exporter

    def healthy(self, record: ServiceRecord) -> bool:
        # Not the dag-processor's heartbeat: on a busy machine it lags past Airflow's threshold and
        # `up` would restart a working stack. Its process being alive is the check that matters.
        try:
            return record.alive() and _api_healthy(record.endpoints["url"])
        except httpx.HTTPError:
            return False


def statsd_mappings() -> list[dict[str, object]]:
    """The exporter mappings the Helm chart deploys (helm/values/airflow.yaml `statsd.extraMappings`)."""
    return list(yaml.safe_load(AIRFLOW_VALUES.read_text())["statsd"]["extraMappings"])


def _answers(url: str) -> bool:
    return httpx.get(url, timeout=2.0).status_code == 200


def _health(url: str) -> dict:
    response = httpx.get(f"{url}/api/v2/monitor/health", timeout=5.0)
    response.raise_for_status()
    return response.json()


def _api_healthy(url: str) -> bool:
    return _health(url)["metadatabase"]["status"] == "healthy"


def _processor_healthy(url: str) -> bool:
    health = _health(url)
    return health["metadatabase"]["status"] == "healthy" and health["dag_processor"]["status"] == "healthy"
