"""Conditions in Strimzi's shape: transition times, Ready from its parts, child readiness."""

from __future__ import annotations

import re

import pytest

from fraudlake.operator import conditions as c
from fraudlake.operator.reconcile import Outcome, pause_status, status_patch
from fraudlake.operator.results import StepResult
from fraudlake.pipeline.status import (
    CONNECTORS_READY,
    PAUSED,
    READY,
    SCORING_READY,
    TABLES_READY,
    TOPICS_READY,
)

pytestmark = pytest.mark.unit

T0, T1 = "2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z"


def test_now_is_rfc3339_utc_seconds() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", c.now())


def test_merge_keeps_transition_time_while_status_is_unchanged() -> None:
    first = c.merge([], [c.condition(TOPICS_READY, False, "TopicsNotReady", "0/4")], T0)
    same = c.merge(first, [c.condition(TOPICS_READY, False, "TopicsNotReady", "2/4")], T1)
    assert same[0]["lastTransitionTime"] == T0
    assert same[0]["message"] == "2/4"
    flipped = c.merge(same, [c.condition(TOPICS_READY, True, "TopicsReady")], T1)
    assert flipped[0]["lastTransitionTime"] == T1
    assert flipped[0]["status"] == "True"


def test_merge_orders_canonically_and_removes() -> None:
    merged = c.merge(
        [c.condition(PAUSED, True, "ReconciliationPaused") | {"lastTransitionTime": T0}],
        [c.condition(TABLES_READY, True, "TablesReady"), c.condition(READY, False, "x")],
        T1,
    )
    assert [m["type"] for m in merged] == [READY, TABLES_READY, PAUSED]
    assert [m["type"] for m in c.merge(merged, [], T1, remove=[PAUSED])] == [READY, TABLES_READY]


def test_ready_needs_every_part() -> None:
    parts = [
        c.condition(TOPICS_READY, True, "TopicsReady"),
        c.condition(CONNECTORS_READY, True, "ConnectorReady"),
        c.condition(SCORING_READY, True, "ScorerOff"),
    ]
    assert c.ready_from_parts(parts)["status"] == "False"
    parts.append(c.condition(TABLES_READY, False, "ClickHouseUnavailable", "ClickHouse unavailable: refused"))
    ready = c.ready_from_parts(parts)
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "False",
        "ClickHouseUnavailable",
        "ClickHouse unavailable: refused",
    )
    parts[-1] = c.condition(TABLES_READY, True, "TablesReady")
    assert c.ready_from_parts(parts)["status"] == "True"


def test_a_scorer_without_available_pods_keeps_the_pipeline_unready() -> None:
    why = "scorer Deployment fraud/demo-scorer: 0/2 scorer pods available"
    parts = [
        c.condition(TOPICS_READY, True, "TopicsReady"),
        c.condition(CONNECTORS_READY, True, "ConnectorReady"),
        c.condition(TABLES_READY, True, "TablesReady"),
        c.condition(SCORING_READY, False, "ScorerNotAvailable", why),
    ]
    ready = c.ready_from_parts(parts)
    assert (ready["status"], ready["reason"], ready["message"]) == ("False", "ScorerNotAvailable", why)


@pytest.mark.parametrize(
    ("obj", "ready"),
    [
        ({"metadata": {"generation": 2}}, False),
        (
            {
                "metadata": {"generation": 2},
                "status": {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True"}]},
            },
            False,
        ),
        (
            {
                "metadata": {"generation": 2},
                "status": {
                    "observedGeneration": 2,
                    "conditions": [{"type": "Ready", "status": "False", "message": "broker down"}],
                },
            },
            False,
        ),
        (
            {
                "metadata": {"generation": 2},
                "status": {"observedGeneration": 2, "conditions": [{"type": "Ready", "status": "True"}]},
            },
            True,
        ),
    ],
)
def test_strimzi_readiness_is_for_the_current_generation(obj: dict, ready: bool) -> None:
    assert c.strimzi_readiness(obj)[0] is ready


def test_status_patch_records_generation_fields_and_ready() -> None:
    outcome = Outcome(
        [
            StepResult(
                c.condition(TOPICS_READY, True, "TopicsReady"), {"topics": ["a"], "topicsReady": "1/1"}
            ),
            StepResult(c.condition(CONNECTORS_READY, True, "ConnectorReady"), {"connector": "k"}),
            StepResult(c.condition(TABLES_READY, True, "TablesReady"), {"tablesReady": "13/13"}),
            StepResult(c.condition(SCORING_READY, True, "ScorerOff"), {"scorer": "", "scoringReady": "off"}),
        ]
    )
    patch = status_patch({}, outcome, 7)
    assert patch["observedGeneration"] == 7
    assert patch["topicsReady"] == "1/1"
    assert c.is_true(patch["conditions"], READY)
    assert "drift" not in patch
    assert status_patch(patch, outcome, None, drift_check=True)["drift"].keys() == {"lastCheckTime"}
    outcome.results[0].repaired.append("KafkaTopic t")
    drift = status_patch(patch, outcome, None, drift_check=True)["drift"]
    assert drift["repaired"] == ["KafkaTopic t"]
    assert drift["lastRepairTime"] == drift["lastCheckTime"]


def test_pause_and_resume_toggle_one_condition() -> None:
    paused = pause_status({"conditions": []}, paused=True)
    assert c.is_true(paused["conditions"], PAUSED)
    assert c.find(pause_status(paused, paused=False)["conditions"], PAUSED) is None
