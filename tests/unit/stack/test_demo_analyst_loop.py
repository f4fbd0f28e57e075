"""The demo's analyst loop: the scripted analyst's dispositions and the summary's lines."""

from __future__ import annotations

from fraudlake.local.demo.analyst_loop import disposition
from fraudlake.local.demo.summary import loop_lines


def test_a_case_with_a_fraud_among_its_flagged_transactions_is_confirmed() -> None:
    assert disposition({"t1", "t2"}, {"t1": False, "t2": True}) == "confirm_fraud"


def test_a_case_without_fraud_is_marked_not_fraud() -> None:
    assert disposition({"t1", "t2"}, {"t1": False, "t2": False, "t3": True}) == "not_fraud"


def test_the_script_leaves_cases_it_cannot_judge() -> None:
    assert disposition({"t1", "t2"}, {"t1": True}) is None  # t2's truth unknown
    assert disposition(set(), {"t1": True}) is None


def loop(gate: dict[str, object]) -> dict[str, object]:
    return {
        "analyst": {"actor": "demo-analyst", "cases": 10, "confirmed_fraud": 4, "not_fraud": 6, "labels": 23},
        "retrain": {
            "rows": 31_000,
            "labels": {"analyst": 23, "chargeback": 0, "transaction": 30_977},
            "seconds": 41.2,
            "champion": "v1",
        },
        "challenger": "v2",
        "shadow": {"transactions": 2000, "shadowed": 1990, "frauds": 9, "first_day": "2026-12-17"},
        "gate": gate,
    }


def test_the_summary_says_what_the_gate_decided_and_on_what() -> None:
    gate = {
        "policy": {"min_frauds": 5},
        "action": "promoted",
        "reason": "AUC-PR 0.61 vs champion 0.55",
        "transactions": 1990,
        "frauds": 9,
        "champion": {"auc_pr": 0.55},
        "challenger": {"auc_pr": 0.61},
    }
    lines = dict(loop_lines(loop(gate)))
    assert "labels from analysts 23" in lines["retrain (train_model's step)"]
    assert "knows the generator's truth" in lines["analyst (scripted)"]
    assert "1,990 scored in shadow" in lines["shadow"]
    assert "AUC-PR champion 0.5500, challenger 0.6100" in lines["shadow gate"]
    assert lines["decision"] == "promoted: AUC-PR 0.61 vs champion 0.55"


def test_a_gate_still_shadowing_shows_no_auc() -> None:
    gate = {"policy": {"min_frauds": 5}, "action": "shadowing", "reason": "not enough evidence",
            "transactions": 100, "frauds": 2, "champion": None, "challenger": None}  # fmt: skip
    lines = dict(loop_lines(loop(gate)))
    assert "AUC-PR" not in lines["shadow gate"]
    assert lines["decision"].startswith("shadowing: not enough evidence")
