"""The operator's /metrics while it reconciles a real FraudPipeline (real kube-apiserver, real chDB, Kopf
in-process, FakeStrimzi for the Strimzi status): the pipeline's Ready condition, the handler outcomes and the
step durations move as the pipeline waits, becomes Ready and is deleted."""

from __future__ import annotations

import os
import re
import urllib.request
import uuid
from typing import Any

# The drift timer's interval is fixed when the handlers module is imported (by the first KopfRunner).
os.environ.setdefault("FRAUDLAKE_OPERATOR_DRIFT_INTERVAL_SECONDS", "1")
os.environ.setdefault("FRAUDLAKE_OPERATOR_RETRY_DELAY_SECONDS", "1")

import pytest
from fake_strimzi import FakeStrimzi
from fraudpipeline_kit import (
    Kubectl,
    api,
    crd,
    dsn_secret,
    eventually,
    kubectl,
    new_namespace,
    pipeline_manifest,
)
from kopf.testing import KopfRunner
from kubernetes import client

from fraudlake.local.stack.service import ServiceRecord
from fraudlake.operator import metrics
from fraudlake.pipeline import naming

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
__all__ = ["api", "crd", "kubectl"]  # fixtures


def scrape() -> str:
    # The operator's startup handler started the server; serve() hands back the port it bound.
    port = metrics.serve(int(os.environ["FRAUDLAKE_OPERATOR_METRICS_PORT"]))
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def sample(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        match = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if match and all(f'{key}="{value}"' in match[1] for key, value in labels.items()):
            return float(match[2])
    return None


def scrape_showing(name: str, **labels: str) -> str | None:
    """The exposition if it has a sample of `name` with `labels`, else None (for `eventually`)."""
    text = scrape()
    return text if sample(text, name, **labels) else None


def test_metrics_follow_a_pipeline_from_waiting_to_ready_to_deleted(
    api: client.ApiClient, kubectl: Kubectl, crd: dict[str, Any], clickhouse: ServiceRecord
) -> None:
    namespace, kafka_namespace = new_namespace(api, "fpm"), new_namespace(api, "kafka")
    database = f"fpm_{uuid.uuid4().hex[:8]}"
    ready = {"pipeline_namespace": namespace, "pipeline": "demo", "condition": "Ready"}
    args = ["run", "--standalone", f"--namespace={namespace}", "-m", "fraudlake.operator.handlers"]
    with FakeStrimzi(api) as fake, KopfRunner(args, timeout=120):
        fake.hold.add(naming.topic_name(namespace, "demo", "cards"))
        applied = kubectl.apply(
            [
                dsn_secret(namespace, clickhouse.endpoints["dsn"]),
                pipeline_manifest(namespace, kafka_namespace, "demo", database),
            ]
        )
        assert applied.returncode == 0, applied.stderr

        # Strimzi has not reported one topic: not Ready, and the handler ends waiting (a retry, no error).
        waiting = eventually(
            lambda: scrape_showing("fraudlake_operator_pipeline_condition", **ready, status="False"),
            120,
            what="Ready=False in the operator's metrics",
        )
        assert sample(
            waiting, "fraudlake_operator_reconciles_total", handler="reconcile_pipeline", outcome="retry"
        )
        assert sample(waiting, "fraudlake_operator_step_duration_seconds_count", step="topics")
        assert sample(waiting, "fraudlake_operator_step_duration_seconds_count", step="tables")

        fake.hold.clear()
        done = eventually(
            lambda: scrape_showing("fraudlake_operator_pipeline_condition", **ready, status="True"),
            180,
            what="Ready=True in the operator's metrics",
        )
        assert sample(done, "fraudlake_operator_pipeline_condition", **ready, status="False") is None
        assert sample(
            done, "fraudlake_operator_reconciles_total", handler="reconcile_pipeline", outcome="success"
        )

        client.CustomObjectsApi(api).delete_namespaced_custom_object(
            naming.GROUP, naming.VERSION, namespace, naming.PLURAL, "demo"
        )
        eventually(
            lambda: (
                sample(scrape(), "fraudlake_operator_pipeline_condition", pipeline_namespace=namespace)
                is None
            ),
            180,
            what="the deleted pipeline's series to go",
        )
        assert sample(
            scrape(), "fraudlake_operator_reconciles_total", handler="delete_pipeline", outcome="success"
        )
