"""The operator's Prometheus metrics move when handlers run, steps run and conditions change."""

from __future__ import annotations

import inspect
import urllib.request
from typing import Any, cast

import kopf
import pytest
from kubernetes.client.exceptions import ApiException

from fraudlake.operator import handlers, metrics, reconcile
from fraudlake.operator.builders import Pipeline
from fraudlake.operator.conditions import condition
from fraudlake.operator.results import Known, StepResult

pytestmark = pytest.mark.unit


def sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def body(name: str, namespace: str = "fraud") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace, "generation": 1}}


def ready(status: bool) -> list[dict[str, Any]]:
    return [condition("Ready", status, "Test", "test"), condition("TopicsReady", True, "Test", "test")]


def test_a_handler_run_is_counted_by_outcome() -> None:
    @metrics.observed
    def flaky_handler(patch: kopf.Patch, **_: Any) -> None:
        raise outcomes.pop(0)

    outcomes: list[Exception] = [
        kopf.TemporaryError("waiting for the KafkaTopic"),
        kopf.PermanentError("partitions cannot shrink"),
        ApiException(status=500),
    ]
    before = {
        outcome: sample("fraudlake_operator_reconciles_total", handler="flaky_handler", outcome=outcome)
        for outcome in ("retry", "failed", "error")
    }
    for _ in range(3):
        with pytest.raises(Exception):  # noqa: B017, PT011 - each of the three is re-raised unchanged
            flaky_handler(body=body("p1"), patch=kopf.Patch())
    for outcome, count in before.items():
        after = sample("fraudlake_operator_reconciles_total", handler="flaky_handler", outcome=outcome)
        assert after == count + 1, outcome
    # A dependency on its way is no error; a refusal and an unexpected exception are.
    errors = "fraudlake_operator_reconcile_errors_total"
    assert sample(errors, handler="flaky_handler", error="ApiException") == 1
    assert sample(errors, handler="flaky_handler", error="PermanentError") == 1
    assert sample(errors, handler="flaky_handler", error="TemporaryError") == 0


def test_conditions_written_by_a_handler_become_pipeline_gauges() -> None:
    @metrics.observed
    def writes_conditions(patch: kopf.Patch, **_: Any) -> None:
        patch.status["conditions"] = conditions

    conditions = ready(False)
    writes_conditions(body=body("gauge-a", "team-1"), patch=kopf.Patch())
    labels = {"pipeline_namespace": "team-1", "pipeline": "gauge-a", "condition": "Ready"}
    assert sample("fraudlake_operator_pipeline_condition", **labels, status="False") == 1
    not_ready = sample("fraudlake_operator_pipelines", condition="Ready", status="False")
    assert not_ready >= 1

    conditions = ready(True)
    writes_conditions(body=body("gauge-a", "team-1"), patch=kopf.Patch())
    # The old status leaves no stale series: the pipeline is Ready now, and counted once.
    assert sample("fraudlake_operator_pipeline_condition", **labels, status="False") == 0
    assert sample("fraudlake_operator_pipeline_condition", **labels, status="True") == 1
    assert sample("fraudlake_operator_pipelines", condition="Ready", status="False") == not_ready - 1


def test_a_handler_that_writes_no_conditions_keeps_the_recorded_ones() -> None:
    @metrics.observed
    def writes(patch: kopf.Patch, **_: Any) -> None:
        patch.status.update(status)

    status: dict[str, Any] = {"conditions": ready(True)}
    writes(body=body("kept"), patch=kopf.Patch())
    status = {"observedGeneration": 2}
    writes(body=body("kept"), patch=kopf.Patch())
    labels = {"pipeline_namespace": "fraud", "pipeline": "kept", "condition": "Ready", "status": "True"}
    assert sample("fraudlake_operator_pipeline_condition", **labels) == 1


def test_a_deleted_pipeline_leaves_the_gauges_only_once_the_delete_succeeded() -> None:
    metrics.PIPELINES.record("fraud", "gone", ready(True))
    labels = {"pipeline_namespace": "fraud", "pipeline": "gone", "condition": "Ready", "status": "True"}

    @metrics.observed_deletion
    def delete(**_: Any) -> None:
        if waiting:
            raise kopf.TemporaryError("waiting for deletion of KafkaTopic")

    waiting = True
    with pytest.raises(kopf.TemporaryError):
        delete(body=body("gone"))
    assert sample("fraudlake_operator_pipeline_condition", **labels) == 1
    waiting = False
    delete(body=body("gone"))
    assert sample("fraudlake_operator_pipeline_condition", **labels) == 0


def test_converge_times_every_step_even_one_that_raises() -> None:
    def reconcile_widgets(pipeline: Pipeline, known: Known) -> StepResult:
        return StepResult(condition("WidgetsReady", True, "Test", "test"), {})

    def reconcile_gadgets(pipeline: Pipeline, known: Known) -> StepResult:
        raise ApiException(status=503)

    pipeline = cast(Pipeline, None)  # the fake steps never read it
    widgets = sample("fraudlake_operator_step_duration_seconds_count", step="widgets")
    reconcile.converge(pipeline, None, (reconcile_widgets,))
    assert sample("fraudlake_operator_step_duration_seconds_count", step="widgets") == widgets + 1
    with pytest.raises(ApiException):
        reconcile.converge(pipeline, None, (reconcile_gadgets,))
    assert sample("fraudlake_operator_step_duration_seconds_count", step="gadgets") == 1


def test_every_pipeline_handler_is_observed() -> None:
    """A handler added without the decorator would reconcile without any metric."""
    decorated = [
        fn
        for name, fn in inspect.getmembers(handlers, inspect.isfunction)
        if fn.__module__ == handlers.__name__
        and not name.startswith("_")
        and {"body", "patch"} & set(inspect.signature(fn).parameters)
    ]
    assert len(decorated) >= 9
    for fn in decorated:
        assert fn.__name__ != "run", fn  # functools.wraps kept the handler's name (Kopf's handler id)
        assert getattr(fn, "__wrapped__", None) is not None, f"{fn.__name__} is not wrapped by metrics"


def test_serve_exposes_the_registry_over_http() -> None:
    port = metrics.serve(0)
    assert metrics.serve(0) == port  # the operator restarted in the same process reuses its server
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    assert "# TYPE fraudlake_operator_reconciles_total counter" in text
    assert "# TYPE fraudlake_operator_step_duration_seconds histogram" in text
    assert "# TYPE fraudlake_operator_pipelines gauge" in text
