"""The stack's Prometheus scrapes every component: the stack's services from their records, and the scoring
API and stream scorer of a run through the targets they publish; asserted through Prometheus' HTTP API."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from model_kit import frame_records, trained_model

from fraudlake.local.demo.serve import API_JOB
from fraudlake.local.demo.stream_stage import SCORER_JOB
from fraudlake.local.stack.process import free_port
from fraudlake.local.stack.service import ScrapeJob, ServiceRecord, StackContext
from fraudlake.local.stack.services.prometheus import publish_targets, withdraw_targets
from fraudlake.ml.registry import LocalStore, MemoryStore, ModelRegistry
from fraudlake.ui.prometheus import LIVE_CHARTS, PrometheusClient

sys.path.insert(0, str(Path(__file__).parents[1] / "unit" / "stream"))
from stream_kit import ScorerProcess, create_topic, produce, topics_of, transaction_message, unique_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
API_KEY = "prometheus-it-key-5b1c"


def api_get(prometheus: ServiceRecord, path: str, **params: str) -> Any:
    response = httpx.get(f"{prometheus.endpoints['url']}/api/v1/{path}", params=params, timeout=10)
    response.raise_for_status()
    body = response.json()
    assert body["status"] == "success", body
    return body["data"]


def active_targets(prometheus: ServiceRecord) -> list[dict[str, Any]]:
    return list(api_get(prometheus, "targets", state="active")["activeTargets"])


def scalar(prometheus: ServiceRecord, promql: str) -> float | None:
    """The value of a single-series query now; None while it has no series."""
    result = api_get(prometheus, "query", query=promql)["result"]
    return float(result[0]["value"][1]) if result else None


def eventually(check: Callable[[], Any], what: str, timeout: float = 90) -> Any:
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def all_up(prometheus: ServiceRecord, jobs: set[str]) -> Callable[[], list[dict[str, Any]] | None]:
    """A check: every active target is up and `jobs` are among them (the targets then, else None)."""

    def check() -> list[dict[str, Any]] | None:
        targets = active_targets(prometheus)
        scraped = {t["labels"]["job"] for t in targets}
        if jobs <= scraped and all(t["health"] == "up" for t in targets):
            return targets
        return None

    return check


def describe(prometheus: ServiceRecord) -> str:
    return "\n".join(
        f"{t['labels']['job']} {t['scrapeUrl']}: {t['health']} {t['lastError']}"
        for t in active_targets(prometheus)
    )


def test_prometheus_scrapes_itself_and_every_stack_service(
    prometheus: ServiceRecord,
    minio: ServiceRecord,
    kube: ServiceRecord,
    kafka_connect: ServiceRecord,
    airflow: ServiceRecord,
) -> None:
    """Services may start after Prometheus (it reloads its config) or before (it starts with them).
    Kafka and Connect serve their MBeans through the JMX exporter agent, as Strimzi's pods do; Airflow
    sends StatsD to the exporter the Airflow chart runs."""
    jobs = {"prometheus", "minio", "kube-apiserver", "etcd", "kafka", "connect", "airflow"}
    try:
        eventually(all_up(prometheus, jobs), "every stack target up")
    except AssertionError:
        pytest.fail(f"not every target is up:\n{describe(prometheus)}")
    # Series of each component, not only `up`.
    for promql in (
        'prometheus_build_info{version="3.16.0"}',
        'minio_cluster_nodes_online_total{job="minio"}',
        'apiserver_request_total{job="kube-apiserver"}',
        'etcd_server_has_leader{job="etcd"}',
        'kafka_server_brokertopicmetrics_count{job="kafka",name="BytesInPerSec"}',
        'kafka_connect_connect_worker_metrics_connector_count{job="connect"}',
        # The dag-processor's own StatsD (airflow.dag_processing.*), through the exporter.
        '{job="airflow", __name__=~"airflow_dag_processing_.+"}',
    ):
        assert eventually(lambda q=promql: api_get(prometheus, "query", query=q)["result"], promql, 30)


@pytest.fixture(scope="module")
def trained() -> tuple[dict[str, bytes], pd.DataFrame]:
    return trained_model()


@pytest.fixture
def scoring_api(trained: tuple[dict[str, bytes], pd.DataFrame], stack: StackContext) -> Iterator[str]:
    """The scoring API over HTTP (uvicorn in a thread, as in the demo), published as a scrape target."""
    import uvicorn

    from fraudlake.api.main import create_app
    from fraudlake.api.settings import ApiSettings

    registry = ModelRegistry(MemoryStore(), "models")
    registry.publish(trained[0])
    port = free_port()
    app = create_app(ApiSettings(api_keys=API_KEY), registry)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="prometheus-it-api", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    eventually(lambda: _ok(f"{url}/readyz"), "the API to load its model", 120)
    publish_targets(stack.stack_dir, "it-api", [ScrapeJob(API_JOB, (f"127.0.0.1:{port}",))])
    try:
        yield url
    finally:
        withdraw_targets(stack.stack_dir, "it-api")
        server.should_exit = True
        thread.join(timeout=15)


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_api_and_stream_scorer_are_scraped_and_their_counters_move(
    prometheus: ServiceRecord,
    kafka: ServiceRecord,
    stack: StackContext,
    scoring_api: str,
    trained: tuple[dict[str, bytes], pd.DataFrame],
    tmp_path: Path,
) -> None:
    bootstrap, pipeline = kafka.endpoints["bootstrap"], unique_pipeline("prom")
    create_topic(bootstrap, topics_of(pipeline)["transactions"], 1)
    ModelRegistry(LocalStore(tmp_path / "lake"), "models").publish(trained[0])
    metrics_port = free_port()
    scorer = ScorerProcess(
        bootstrap,
        pipeline,
        tmp_path / "lake" / "models",
        tmp_path,
        extra=("--metrics-port", str(metrics_port)),
    ).start()
    publish_targets(stack.stack_dir, "it-scorer", [ScrapeJob(SCORER_JOB, (f"127.0.0.1:{metrics_port}",))])
    try:
        try:
            eventually(all_up(prometheus, {API_JOB, SCORER_JOB, "prometheus"}), "the API and scorer up", 180)
        except AssertionError:
            pytest.fail(
                f"not every target is up:\n{describe(prometheus)}\nscorer:\n{scorer.log_text()[-2000:]}"
            )

        # Each counter moves by what was sent, round after round (each is waited for in Prometheus).
        scores = f'sum(fraudlake_api_scores_total{{job="{API_JOB}"}})'
        txns = frame_records(trained[1], 0, 30)
        with httpx.Client(base_url=scoring_api, headers={"X-API-Key": API_KEY}, timeout=10) as client:
            for batch in (txns[:5], txns[5:]):
                target = (scalar(prometheus, scores) or 0.0) + len(batch)
                for txn in batch:
                    client.post("/v1/score", json=txn).raise_for_status()
                eventually(lambda t=target: (scalar(prometheus, scores) or 0.0) >= t, scores, 30)
        requests = f'sum(fraudlake_api_request_duration_seconds_count{{job="{API_JOB}", route="/v1/score"}})'
        assert (scalar(prometheus, requests) or 0.0) >= len(txns)

        # The stream scorer: decisions of the transactions produced to its topic.
        decisions = f'sum(fraudlake_scorer_decisions_total{{job="{SCORER_JOB}"}})'
        produced = frame_records(trained[1], 100, 160)
        for batch in (produced[:10], produced[10:]):
            target = (scalar(prometheus, decisions) or 0.0) + len(batch)
            produce(bootstrap, topics_of(pipeline)["transactions"], map(transaction_message, batch))
            eventually(lambda t=target: (scalar(prometheus, decisions) or 0.0) >= t, decisions, 120)

        # The UI's Live tab reads the same through the range API: both throughput lines have moved.
        throughput = next(chart for chart in LIVE_CHARTS if chart.title == "Throughput")
        source = PrometheusClient(prometheus.endpoints["url"])

        def both_lines_moved() -> bool:
            data = source.chart_frame(throughput, minutes=5)
            return set(data.loc[data["value"] > 0, "series"]) == {s.label for s in throughput.series}

        eventually(both_lines_moved, "the Live tab's throughput lines to move", 60)
    finally:
        withdraw_targets(stack.stack_dir, "it-scorer")
        scorer.stop()
    # Withdrawn targets leave Prometheus' active targets within its file_sd refresh.
    eventually(
        lambda: SCORER_JOB not in {t["labels"]["job"] for t in active_targets(prometheus)},
        "the scorer's withdrawal",
        30,
    )
