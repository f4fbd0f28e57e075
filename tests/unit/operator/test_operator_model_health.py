"""ModelHealthy from a drift report's verdict: patched only when it changes, beside the other conditions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry

from fraudlake.model_monitoring.reports import Verdict
from fraudlake.operator import conditions, metrics
from fraudlake.operator.model_health import MODEL_HEALTHY, health_condition, updated_conditions

pytestmark = pytest.mark.unit

AT = datetime(2026, 3, 1, tzinfo=UTC)
DRIFTING = Verdict(False, ("amount", "mcc"), AT, "v7")
HEALTHY = Verdict(True, (), AT, "v7")
READY = {"type": "Ready", "status": "True", "reason": "Ready", "message": "", "lastTransitionTime": "t0"}


def test_a_drifting_report_makes_model_healthy_false_naming_the_features() -> None:
    found = health_condition(DRIFTING)
    assert (found["type"], found["status"], found["reason"]) == (MODEL_HEALTHY, "False", "ModelDrifting")
    assert "amount, mcc" in found["message"]
    assert health_condition(HEALTHY)["status"] == "True"


def test_the_condition_joins_the_others_and_ready_is_untouched() -> None:
    updated = updated_conditions({"conditions": [READY]}, DRIFTING)
    assert updated is not None
    assert [c["type"] for c in updated] == ["Ready", MODEL_HEALTHY]
    assert conditions.find(updated, "Ready") == READY


def test_nothing_to_patch_when_the_condition_is_already_as_the_report_says() -> None:
    current = updated_conditions({"conditions": [READY]}, DRIFTING)
    assert updated_conditions({"conditions": current}, DRIFTING) is None
    flipped = updated_conditions({"conditions": current}, HEALTHY)
    assert flipped is not None
    assert conditions.find(flipped, MODEL_HEALTHY)["status"] == "True"


def test_no_report_leaves_the_status_alone() -> None:
    assert updated_conditions({"conditions": [READY]}, None) is None


def test_the_latest_report_is_exported_per_pipeline_and_forgotten_with_it() -> None:
    drift_metrics = metrics.ModelDrift()
    registry = CollectorRegistry()
    registry.register(drift_metrics)
    rows = [
        {"feature": "amount", "psi": 0.42, "alert_rate": 0.05, "flagged_precision": 0.4},
        {"feature": "score", "psi": None, "alert_rate": 0.05, "flagged_precision": 0.4},
    ]
    drift_metrics.record("ns", "demo", rows)
    labels = {"pipeline_namespace": "ns", "pipeline": "demo"}
    assert registry.get_sample_value("fraudlake_feature_psi", {**labels, "feature": "amount"}) == 0.42
    assert registry.get_sample_value("fraudlake_feature_psi", {**labels, "feature": "score"}) is None
    assert registry.get_sample_value("fraudlake_model_alert_rate", labels) == 0.05
    assert registry.get_sample_value("fraudlake_model_flagged_precision", labels) == 0.4
    drift_metrics.forget("ns", "demo")
    assert registry.get_sample_value("fraudlake_feature_psi", {**labels, "feature": "amount"}) is None
