"""Thresholds, the seeds' rule, calibration and metrics on hand-made scores."""

from __future__ import annotations

import numpy as np
import pytest

from fraudlake.ml import evaluate
from fraudlake.ml.features import FEATURE_NAMES

pytestmark = pytest.mark.unit
COL = {name: i for i, name in enumerate(FEATURE_NAMES)}


def test_threshold_is_the_lowest_score_meeting_the_target_precision() -> None:
    score = np.array([0.99, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2])
    y = np.array([1, 1, 1, 0, 1, 1, 0, 0, 1, 0])
    t = evaluate.choose_threshold(y, score, target_precision=0.8)
    assert t.reachable
    assert t.value == 0.6
    assert t.precision == pytest.approx(5 / 6)
    assert t.recall == pytest.approx(5 / 6)
    assert evaluate.choose_threshold(y, score, 1.0).value == 0.9  # top three only


def test_threshold_needs_enough_frauds_and_never_splits_tied_scores() -> None:
    y = np.array([1, 0, 0, 0])
    assert not evaluate.choose_threshold(y, np.array([0.9, 0.1, 0.1, 0.1]), 0.9, min_positives=3).reachable
    tied = evaluate.choose_threshold(np.array([1, 1, 1, 0, 1]), np.array([0.9, 0.9, 0.9, 0.9, 0.5]), 0.7)
    assert tied.value == 0.5
    assert tied.precision == pytest.approx(0.8)


def test_unreachable_target_declines_nothing() -> None:
    t = evaluate.choose_threshold(np.array([0, 1, 0, 1]), np.array([0.9, 0.8, 0.7, 0.6]), 0.95)
    assert t.value == float("inf")
    assert not t.reachable
    assert (evaluate.decisions(np.array([1.0, 0.5]), 0.4, t.value) == ["review", "review"]).all()


def test_seed_rule_needs_two_in_ten_minutes_above_the_users_average() -> None:
    x = np.zeros((4, len(FEATURE_NAMES)))
    x[:, COL["user_mean_all"]] = [50.0, 50.0, 50.0, np.nan]
    x[:, COL["card_count_10m"]] = [1, 0, 1, 1]
    x[:, COL["card_sum_10m"]] = [30.0, 0.0, 10.0, 100.0]
    x[:, COL["amount"]] = [30.0, 80.0, 30.0, 100.0]
    assert evaluate.seed_rule(x).tolist() == [1.0, 0.0, 0.0, 0.0]  # alone / under average / no history


def test_recall_at_precision_and_ranking_metrics() -> None:
    y = np.array([1, 1, 0, 1, 0, 0])
    s = np.array([0.9, 0.8, 0.7, 0.6, 0.2, 0.1])
    assert evaluate.recall_at_precision(y, s, 0.9) == pytest.approx(2 / 3)
    m = evaluate.ranking_metrics(y, s)
    assert m["auc_pr"] == pytest.approx((1 + 1 + 3 / 4) / 3)
    assert np.isnan(evaluate.ranking_metrics(np.zeros(3), np.ones(3))["auc_pr"])


def test_calibration_is_monotone_and_bounded() -> None:
    rng = np.random.default_rng(0)
    raw = rng.random(2000)
    y = (rng.random(2000) < raw**3).astype(int)
    cal = evaluate.Calibration.fit(raw, y)
    out = cal(np.linspace(-1, 2, 50))
    assert (np.diff(out) >= 0).all()
    assert out.min() >= 0
    assert out.max() <= 1


def test_card_bootstrap_gives_intervals_for_models_and_differences() -> None:
    rng = np.random.default_rng(1)
    y = (rng.random(3000) < 0.05).astype(int)
    good, noise = y + rng.normal(0, 0.3, 3000), rng.random(3000)
    ci = evaluate.card_bootstrap(
        y, {"good": good, "noise": noise}, rng.integers(0, 300, 3000), [("good", "noise")], n=50
    )
    assert ci["good"][0] > ci["noise"][1]
    assert ci["good-noise"][0] > 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ranked_average_precision_equals_scikit_learns_with_bootstrap_weights(seed: int) -> None:
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(seed)
    n = 5_000
    y = (rng.random(n) < 0.02).astype(int)
    # Coarse scores: many ties, which must form one threshold each, as in scikit-learn.
    score = np.round(rng.random(n) + y * rng.random(n), 2)
    cards = rng.integers(0, 300, n)
    ranked = evaluate.RankedScores(y, score)
    for _ in range(5):
        weight = np.bincount(rng.integers(0, 300, 300), minlength=300)[cards]  # zeros included
        if y[weight > 0].sum() == 0:
            continue
        expected = average_precision_score(y, score, sample_weight=weight)
        assert ranked.average_precision(weight) == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert ranked.average_precision(np.ones(n)) == pytest.approx(average_precision_score(y, score), rel=1e-12)
