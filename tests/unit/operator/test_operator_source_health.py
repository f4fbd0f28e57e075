"""SourcesLoaded from the CDC loader's state (clickhouse/142): check-then-act, like ModelHealthy."""

from __future__ import annotations

import pytest

from fraudlake.operator import source_health
from fraudlake.operator.builders import Pipeline
from fraudlake.pipeline.spec import FraudPipelineSpec

pytestmark = pytest.mark.unit
BROKEN = "cards change at lsn 42 lacks column(s) status: renamed or dropped in the source database"


def test_a_refused_change_is_a_false_condition_naming_it() -> None:
    wanted = source_health.loaded_condition(False, BROKEN)
    assert wanted == {
        "type": "SourcesLoaded",
        "status": "False",
        "reason": "SourceSchemaBroken",
        "message": BROKEN,
    }
    updated = source_health.updated_conditions({"conditions": []}, wanted)
    assert updated is not None
    assert updated[0]["lastTransitionTime"]


def test_an_unchanged_state_patches_nothing_and_recovery_flips_it() -> None:
    broken = source_health.loaded_condition(False, BROKEN)
    status = {"conditions": source_health.updated_conditions(None, broken)}
    assert source_health.updated_conditions(status, broken) is None
    recovered = source_health.updated_conditions(status, source_health.loaded_condition(True, ""))
    assert recovered is not None
    assert [(c["status"], c["reason"]) for c in recovered] == [("True", "Loaded")]


def test_a_pipeline_without_sources_is_not_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = FraudPipelineSpec.parse(
        {
            "kafka": {"clusterRef": {"name": "kafka"}},
            "lake": {"connectClusterRef": {"name": "connect"}, "bucket": "lake"},
            "clickhouse": {"endpointSecret": {"name": "ch"}, "database": "fraud"},
        }
    )
    monkeypatch.setattr(source_health, "latest_state", lambda _: pytest.fail("ClickHouse was asked"))
    assert source_health.check(Pipeline("ns", "p", 1, spec), {"conditions": []}) is None
