"""Drift on the real stack: the drift job over the pipeline's ClickHouse rows, read back by the operator.

The operator runs in-process (`KopfRunner`, real kube-apiserver, real chDB, `FakeStrimzi` for the
children's status, as in test_operator). The test writes transactions and decisions into the
pipeline's database: a reference window (the model's training window) and recent windows drawn from
the same distributions, or with the amount shifted on purpose. The drift job runs as the DAG's task
does (`fraudlake.model_monitoring.job.run`); the operator's timer turns its report into ModelHealthy.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

# The model health timer's interval is fixed when the handlers module is imported (first KopfRunner).
os.environ.setdefault("FRAUDLAKE_OPERATOR_MODEL_HEALTH_INTERVAL_SECONDS", "1")
os.environ.setdefault("FRAUDLAKE_OPERATOR_RETRY_DELAY_SECONDS", "1")

import numpy as np
import pytest
from clickhouse_connect.driver.client import Client
from fake_strimzi import FakeStrimzi
from fraudpipeline_kit import (
    Kubectl,
    api,
    condition,
    crd,
    dsn_secret,
    eventually,
    get_pipeline,
    kubectl,
    new_namespace,
    pipeline_manifest,
)
from kopf.testing import KopfRunner
from kubernetes import client

from fraudlake.clickhouse.client import connect
from fraudlake.local.stack.service import ServiceRecord
from fraudlake.model_monitoring import drift, job, reports
from fraudlake.operator.metrics import REGISTRY
from fraudlake.operator.model_health import MODEL_HEALTHY
from fraudlake.pipeline import naming

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
__all__ = ["api", "crd", "kubectl"]  # fixtures

REFERENCE = job.Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 29, tzinfo=UTC))
ROWS = 1500


class Pipeline:
    """One FraudPipeline with its own database, reconciled by the operator."""

    def __init__(self, api: client.ApiClient, kubectl: Kubectl, dsn: str) -> None:
        self.api, self.dsn = api, dsn
        self.namespace = new_namespace(api, "drift")
        self.database = f"fp_drift_{uuid.uuid4().hex[:8]}"
        self.key = f"{self.namespace}/demo"  # how the drift job names the pipeline
        manifest = pipeline_manifest(self.namespace, new_namespace(api, "kafka"), "demo", self.database)
        applied = kubectl.apply([dsn_secret(self.namespace, dsn), manifest])
        assert applied.returncode == 0, applied.stderr

    def model_healthy(self) -> dict[str, Any]:
        return condition(get_pipeline(self.api, self.namespace, "demo"), MODEL_HEALTHY)

    def wait_model_healthy(self, status: str) -> dict[str, Any]:
        def flipped() -> dict[str, Any] | None:
            found = self.model_healthy()
            return found if found.get("status") == status else None

        return eventually(flipped, 60, what=f"{MODEL_HEALTHY}={status}")


@pytest.fixture
def pipeline(
    api: client.ApiClient, kubectl: Kubectl, crd: dict[str, Any], clickhouse: ServiceRecord
) -> Iterator[Pipeline]:
    with FakeStrimzi(api):
        world = Pipeline(api, kubectl, clickhouse.endpoints["dsn"])
        args = ["run", "--standalone", f"--namespace={world.namespace}", "-m", "fraudlake.operator.handlers"]
        with KopfRunner(args, timeout=120):
            eventually(
                lambda: (
                    condition(get_pipeline(api, world.namespace, "demo"), "TablesReady").get("status")
                    == "True"
                ),
                120,
                what="TablesReady=True",
            )
            yield world
            # Deleted while the operator runs, so its finalizer is honoured.
            custom = client.CustomObjectsApi(api)
            custom.delete_namespaced_custom_object(
                naming.GROUP, naming.VERSION, world.namespace, naming.PLURAL, "demo"
            )
            eventually(
                lambda: (
                    not custom.list_namespaced_custom_object(
                        naming.GROUP, naming.VERSION, world.namespace, naming.PLURAL
                    )["items"]
                ),
                120,
                what="the pipeline to be deleted",
            )


@pytest.fixture(scope="module")
def ch(clickhouse: ServiceRecord) -> Client:
    return connect(clickhouse.endpoints["dsn"])


def _insert_window(ch: Client, database: str, window: job.Window, seed: int, amount_scale: float) -> None:
    """Transactions and their decisions spread evenly over `window` (whole weeks: every weekday)."""
    rng = np.random.default_rng(seed)
    span = (window.end - window.start).total_seconds()
    times = [window.start + timedelta(seconds=float(s)) for s in rng.uniform(0, span, ROWS)]
    amounts = np.round(rng.lognormal(3.5, 0.8, ROWS) * amount_scale, 2)
    chips = rng.choice(
        ["Chip Transaction", "Swipe Transaction", "Online Transaction"], ROWS, p=[0.5, 0.3, 0.2]
    )
    mccs = rng.choice([5411, 5812, 5999, 4829], ROWS)
    frauds = rng.random(ROWS) < 0.02
    scores = rng.beta(1, 30, ROWS)
    ids = [f"t-{seed}-{i}" for i in range(ROWS)]
    ch.insert(
        f"{database}.transactions",
        [
            [
                ids[i],
                times[i],
                "u1",
                "u1-0",
                "m1",
                float(amounts[i]),
                str(chips[i]),
                int(mccs[i]),
                "CA",
                bool(frauds[i]),
            ]
            for i in range(ROWS)
        ],
        column_names=[
            "txn_id",
            "event_ts",
            "user_id",
            "card_id",
            "merchant_id",
            "amount",
            "use_chip",
            "mcc",
            "merchant_state",
            "is_fraud",
        ],
    )
    ch.insert(
        f"{database}.decisions",
        [
            [ids[i], times[i], float(scores[i]), "review" if scores[i] > 0.1 else "approve", "v1", times[i]]
            for i in range(ROWS)
        ],
        column_names=["txn_id", "event_ts", "score", "decision", "model_version", "decided_at"],
    )


def _run_drift(ch: Client, pipeline: Pipeline, recent: job.Window, run_id: str) -> job.DriftReport:
    drift_job = job.DriftJob(pipeline.database, pipeline.key, "v1", REFERENCE, recent)
    return job.run(ch, drift_job, run_id, datetime.now(UTC))


def test_a_drifted_feature_flips_model_healthy_and_names_it(
    pipeline: Pipeline, ch: Client, kubectl: Kubectl
) -> None:
    _insert_window(ch, pipeline.database, REFERENCE, seed=1, amount_scale=1.0)

    steady = job.Window(datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 2, 8, tzinfo=UTC))
    _insert_window(ch, pipeline.database, steady, seed=2, amount_scale=1.0)
    report = _run_drift(ch, pipeline, steady, "steady")
    assert report.drifting == []
    healthy = pipeline.wait_model_healthy("True")
    assert healthy["reason"] == "NoDrift"

    shifted = job.Window(datetime(2026, 2, 8, tzinfo=UTC), datetime(2026, 2, 15, tzinfo=UTC))
    _insert_window(ch, pipeline.database, shifted, seed=3, amount_scale=3.0)  # amounts tripled on purpose
    report = _run_drift(ch, pipeline, shifted, "shifted")
    assert report.drifting == ["amount"]
    drifting = pipeline.wait_model_healthy("False")
    assert drifting["reason"] == "ModelDrifting"
    assert "amount" in drifting["message"]
    assert "hour" not in drifting["message"]
    listed = kubectl("get", "fp", "demo", "-n", pipeline.namespace)
    header, row = listed.stdout.splitlines()[:2]
    assert dict(zip(header.split(), row.split(), strict=False))["MODEL"] == "False"

    # The operator exports the report it read: Prometheus alerts on the same numbers.
    labels = {"pipeline_namespace": pipeline.namespace, "pipeline": "demo", "feature": "amount"}
    assert REGISTRY.get_sample_value("fraudlake_feature_psi", labels) >= drift.DRIFTING_PSI

    latest = reports.latest(ch, pipeline.database, pipeline.key)
    assert {row["run_id"] for row in latest} == {"shifted"}
    assert {row["feature"] for row in latest} == {*job.TRANSACTION_FEATURES, reports.SCORE}
    assert reports.latest(ch, pipeline.database, None) == latest  # the database's latest, any pipeline


def _report_rows(pipeline: str, run_id: str, at: datetime, amount_psi: float) -> list[tuple[Any, ...]]:
    drift_job = job.DriftJob("unused", pipeline, "v1", REFERENCE, job.Window(at - timedelta(hours=1), at))
    features = (
        drift.FeatureDrift("amount", amount_psi, drift.level_of(amount_psi), 500, 500),
        drift.FeatureDrift("hour", 0.01, "ok", 500, 500),
    )
    return job.report_rows(job.DriftReport(drift_job, features, 0.1, None, 0), run_id, at)


def test_the_latest_report_is_per_pipeline_and_a_rerun_counts_once(ch: Client) -> None:
    from fraudlake.clickhouse.migrations import SchemaParams, apply_schema, render_statements

    database = f"fp_reports_{uuid.uuid4().hex[:8]}"
    apply_schema(ch, render_statements(SchemaParams(database)))
    # Recent: reports are kept 180 days (the table's TTL drops older rows as they are inserted).
    at = datetime.now(UTC).replace(microsecond=0)
    reports.write(ch, database, _report_rows("ns/a", "first", at, 0.3))
    reports.write(ch, database, _report_rows("ns/a", "second", at + timedelta(hours=1), 0.05))
    reports.write(ch, database, _report_rows("ns/a", "second", at + timedelta(hours=1), 0.05))  # a rerun
    reports.write(ch, database, _report_rows("ns/b", "first", at - timedelta(hours=1), 0.5))

    latest_a = reports.latest(ch, database, "ns/a")
    assert [(r["run_id"], r["feature"]) for r in latest_a] == [("second", "amount"), ("second", "hour")]
    assert reports.verdict(latest_a).healthy
    latest_b = reports.verdict(reports.latest(ch, database, "ns/b"))
    assert latest_b.drifting == ("amount",)
    assert [r["pipeline"] for r in reports.latest(ch, database, None)] == ["ns/a", "ns/a"]
    assert reports.latest(ch, database, "ns/none") == []
