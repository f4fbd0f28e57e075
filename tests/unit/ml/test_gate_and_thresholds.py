"""Decisions always exist (capacity fallback of the review band) and the model gate is honest."""

from __future__ import annotations

import numpy as np
import pytest

from fraudlake.ml import evaluate, gate

pytestmark = pytest.mark.unit


def _world(frauds_per_card: int = 2, fraud_cards: int = 30, rows: int = 20_000, seed: int = 3):
    """Validation-like labels: rare fraud in bursts on a few cards."""
    rng = np.random.default_rng(seed)
    cards = rng.integers(0, 2_000, rows)
    y = np.zeros(rows, dtype=int)
    for card in rng.choice(2_000, fraud_cards, replace=False):
        y[np.flatnonzero(cards == card)[:frauds_per_card]] = 1
    return y, cards, rng


def test_review_falls_back_to_a_capacity_queue_when_precision_is_out_of_reach() -> None:
    y, _, rng = _world()
    weak = rng.normal(size=len(y)) + 1.0 * y  # frauds rank a little higher, never at 30% precision
    assert not evaluate.choose_threshold(y, weak, 0.30).reachable
    review = evaluate.review_threshold(y, weak, 0.30, capacity=0.01)
    assert review.basis == "capacity"
    assert review.capacity == 0.01
    assert review.working
    assert np.isfinite(review.value)
    flagged = weak >= review.value
    assert 0 < flagged.mean() <= 0.01
    assert review.flagged_share == flagged.mean()
    assert review.recall == y[flagged].sum() / y.sum() > 0
    decline = evaluate.choose_threshold(y, weak, 0.90)
    assert not decline.reachable
    assert decline.value == float("inf")
    assert set(evaluate.decisions(weak, review.value, decline.value)) == {"approve", "review"}


def test_review_keeps_the_precision_target_when_validation_reaches_it() -> None:
    y, _, rng = _world()
    strong = rng.random(len(y)) + 2.0 * y
    review = evaluate.review_threshold(y, strong, 0.30, capacity=0.0001)
    assert review.basis == "precision"
    assert review.capacity is None
    assert review.precision >= 0.30
    assert review.recall == 1.0


def test_a_capacity_queue_of_tied_top_scores_is_that_group() -> None:
    y = np.array([1, 0, 0, 0, 1, 0, 0, 0, 0, 0])
    coarse = np.array([0.5, 0.5, 0.5, 0.5, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])  # one calibration step
    review = evaluate.capacity_threshold(y, coarse, capacity=0.1)
    assert review.value == 0.5
    assert review.flagged_share == 0.4
    assert review.recall == 0.5


def _scores(y: np.ndarray, rng: np.random.Generator, signal: float) -> np.ndarray:
    return rng.random(len(y)) + signal * y


def test_gate_never_serves_a_model_worse_than_tabular_and_says_why() -> None:
    y, cards, rng = _world()
    scores = {
        "b_xgb_tabular": _scores(y, rng, 0.6),
        "b_plus_xgb_aggregates": _scores(y, rng, 1.5),
        "c_xgb_graph": _scores(y, rng, 0.0),  # no signal: worse than (b) beyond noise
    }
    working = dict.fromkeys(scores, True)
    decision = gate.choose(y, scores, cards, working, gate.GateConfig(bootstrap=50))
    assert decision.served == "b_plus_xgb_aggregates"
    assert decision.servable
    assert "best validation AUC-PR" in decision.reason
    assert "b_plus_xgb_aggregates" in decision.reason
    c = decision.candidates["c_xgb_graph"]
    assert not c.eligible
    assert c.difference_ci95[1] < 0
    assert "beyond noise" in c.note
    # Even when (b) cannot be served, the one worse than (b) beyond noise is not.
    decision = gate.choose(
        y,
        scores,
        cards,
        working | {"b_xgb_tabular": False, "b_plus_xgb_aggregates": False},
        gate.GateConfig(),
    )
    assert not decision.servable
    assert decision.served == "b_xgb_tabular"
    assert "no model has a working review threshold" in decision.reason


def test_gate_serves_tabular_when_validation_has_too_few_fraud_cards() -> None:
    y, cards, rng = _world(frauds_per_card=5, fraud_cards=3)
    scores = {"b_xgb_tabular": _scores(y, rng, 0.5), "c_xgb_graph": _scores(y, rng, 2.0)}
    decision = gate.choose(y, scores, cards, dict.fromkeys(scores, True), gate.GateConfig(min_fraud_cards=10))
    assert decision.served == "b_xgb_tabular"
    assert decision.validation_fraud_cards == 3
    assert "only 3 card(s)" in decision.reason
    # With enough defrauded cards the better model wins.
    decision = gate.choose(y, scores, cards, dict.fromkeys(scores, True), gate.GateConfig(min_fraud_cards=3))
    assert decision.served == "c_xgb_graph"


def test_gate_skips_a_model_without_a_working_review_threshold() -> None:
    y, cards, rng = _world()
    scores = {"b_xgb_tabular": _scores(y, rng, 1.0), "c_xgb_graph": _scores(y, rng, 3.0)}
    decision = gate.choose(
        y, scores, cards, {"b_xgb_tabular": True, "c_xgb_graph": False}, gate.GateConfig(bootstrap=20)
    )
    assert decision.served == "b_xgb_tabular"
    assert decision.candidates["c_xgb_graph"].note == "no working review threshold"
