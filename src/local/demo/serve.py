"""The demo's serving stage: the scoring API in this process, the UI beside it, live scoring.

The API runs in a uvicorn thread of the demo process because that process owns the chDB engine
(the API reads ClickHouse for cold start and the agent's guarded SQL); in Kubernetes it is its own
Deployment against the ClickHouse server. The UI is its own process and talks only to the API.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx

from fraudlake.local.stack.process import free_port, spawn, stop_process_group, wait_until
from fraudlake.local.stack.service import ScrapeJob, ServiceRecord, StackContext
from fraudlake.local.stack.services.prometheus import publish_targets, withdraw_targets

API_JOB = "fraudlake-api"  # the scoring API's job in the stack's Prometheus
UI_JOB = "fraudlake-ui"  # the console's calls to the API (fraudlake.ui.metrics)


@dataclass
class Serving:
    api_url: str
    api_key: str
    ui_url: str
    ui_pid: int
    server: Any
    thread: threading.Thread
    stack_dir: Path

    def stop(self) -> None:
        withdraw_targets(self.stack_dir, "api")
        withdraw_targets(self.stack_dir, "ui")
        stop_process_group(self.ui_pid)
        self.server.should_exit = True
        self.thread.join(timeout=15)


def api_environment(
    records: dict[str, ServiceRecord], pipeline: dict[str, Any], api_key: str
) -> dict[str, str]:
    """The API's FRAUDLAKE_* settings for this stack (what the Helm chart sets from Secrets in EKS)."""
    minio, spec = records["minio"], pipeline["spec"]
    return {
        "FRAUDLAKE_API_KEYS": api_key,
        "FRAUDLAKE_S3_ENDPOINT": minio.endpoints["url"],
        "FRAUDLAKE_S3_ACCESS_KEY": minio.credentials["access_key"],
        "FRAUDLAKE_S3_SECRET_KEY": minio.credentials["secret_key"],
        "FRAUDLAKE_LAKE_BUCKET": spec["lake"]["bucket"],
        "FRAUDLAKE_CLICKHOUSE_DSN": records["clickhouse"].endpoints["dsn"],
        "FRAUDLAKE_CLICKHOUSE_DATABASE": spec["clickhouse"]["database"],
        "FRAUDLAKE_CHROMA_URL": records["chroma"].endpoints["url"],
        "FRAUDLAKE_STARTUP_MODEL_WAIT_SECONDS": "60",
        # The UI's Pipelines tab: the API reads FraudPipelines from the stack's kube-apiserver.
        "FRAUDLAKE_KUBECONFIG": records["kube"].endpoints["kubeconfig"],
    }


def start_serving(ctx: StackContext, records: dict[str, ServiceRecord], pipeline: dict[str, Any]) -> Serving:
    """The API (a thread here, scraped by the stack's Prometheus) and the UI (a child process)."""
    import uvicorn

    from fraudlake.api.main import create_app
    from fraudlake.api.settings import load_settings
    from fraudlake.ui.cli import streamlit_command

    api_key = secrets.token_hex(16)
    # One access line per request would bury the demo's own output; errors still show.
    logging.getLogger("fraudlake.api.access").setLevel(logging.WARNING)
    os.environ.update(api_environment(records, pipeline, api_key))
    api_port, ui_port = free_port(), free_port()
    api_url = f"http://127.0.0.1:{api_port}"
    config = uvicorn.Config(create_app(load_settings()), host="127.0.0.1", port=api_port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="fraudlake-api", daemon=True)
    thread.start()
    _wait_http(f"{api_url}/readyz", 120, "the scoring API to load the champion model")
    publish_targets(ctx.stack_dir, "api", [ScrapeJob(API_JOB, (f"127.0.0.1:{api_port}",))])

    ui_log = ctx.logs_dir / "ui.log"
    ui_metrics_port = free_port()
    env = {
        "FRAUDLAKE_API_URL": api_url,
        "FRAUDLAKE_API_KEY": api_key,
        "FRAUDLAKE_UI_METRICS_PORT": str(ui_metrics_port),
    }
    if "prometheus" in records:  # the Live tab's charts
        env["FRAUDLAKE_PROMETHEUS_URL"] = records["prometheus"].endpoints["url"]
    ui_pid = spawn("ui", streamlit_command(ui_port, "127.0.0.1"), ui_log, env=env)
    ui_url = f"http://127.0.0.1:{ui_port}"
    wait_until(
        "ui", lambda: httpx.get(f"{ui_url}/_stcore/health", timeout=2).status_code == 200, ui_pid, ui_log, 120
    )
    publish_targets(ctx.stack_dir, "ui", [ScrapeJob(UI_JOB, (f"127.0.0.1:{ui_metrics_port}",))])
    return Serving(api_url, api_key, ui_url, ui_pid, server, thread, ctx.stack_dir)


def score_live(serving: Serving, count: int, seed: int, fraud_rate: float, users: int) -> Counter[str]:
    """Score `count` fresh transactions (today's, not in the training data) one by one via the API:
    the demo bank's users at its fraud rate, with fraud already flowing (the generator's warm-up)."""
    from fraudlake.producer.fraud_config import FraudConfig
    from fraudlake.producer.generator import GeneratorConfig, TransactionGenerator

    today = datetime.now(UTC).date()
    config = GeneratorConfig(
        seed=seed + 1, start=today, rows=count, users=users, fraud=FraudConfig(rate=fraud_rate)
    )
    generator = TransactionGenerator(config)
    decisions: Counter[str] = Counter()
    headers = {"X-API-Key": serving.api_key}
    with httpx.Client(base_url=serving.api_url, headers=headers, timeout=10) as client:
        for chunk in generator.chunks():
            for row in chunk.to_pylist():
                response = client.post("/v1/score", json=_transaction_json(row))
                response.raise_for_status()
                decisions[response.json()["decision"]] += 1
    return decisions


def _transaction_json(row: dict[str, Any]) -> dict[str, Any]:
    """A generated row as the API's TransactionIn: the id and the fields the model reads (the label and
    the generator's ground truth dropped)."""
    from fraudlake.ml.features import INPUT_FIELDS, TXN_ID

    payload = {k: row.get(k) for k in (TXN_ID, *INPUT_FIELDS)}
    for key, value in payload.items():
        if isinstance(value, datetime | date):
            payload[key] = value.isoformat()
    return payload


def _wait_http(url: str, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == 200:
                return
            last = f"{response.status_code} {response.text[:200]}"
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.5)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what} ({url}: {last})")


def wait_for_interrupt() -> None:
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return
