"""The model gate of a training run: which of the trained models is served, and why.

Candidates are XGBoost models with more and more graph machinery, the first being (b), tabular
features only: the reference every other candidate must not lose to. The gate reads the validation
period only (the test period is touched once, for the reported metrics, never to pick a model):

- a candidate without a working review threshold (`evaluate.Threshold.working`) is out;
- a candidate whose validation AUC-PR is below (b)'s beyond noise (the 95% card-bootstrap interval
  of the difference lies below 0) is out;
- with frauds on fewer than `min_fraud_cards` cards in validation no comparison means anything, and
  (b) is served when it works: the simplest model is the honest default;
- otherwise the candidate with the best validation AUC-PR is served (ties: the simpler).

When no candidate has a working review threshold, (b) is named but `servable` is False: the registry
never promotes such a model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from fraudlake.ml import evaluate


@dataclass(frozen=True)
class GateConfig:
    bootstrap: int = 200  # card-bootstrap draws for the intervals
    seed: int = 7
    min_fraud_cards: int = 10


@dataclass(frozen=True)
class CandidateReport:
    auc_pr: float  # on validation
    difference_ci95: list[float]  # AUC-PR minus (b)'s, card bootstrap on validation ([] for (b))
    review_working: bool
    eligible: bool
    note: str


@dataclass(frozen=True)
class GateDecision:
    served: str
    servable: bool  # the served model has a working review threshold
    reason: str
    validation_fraud_cards: int
    candidates: dict[str, CandidateReport]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def choose(
    y_valid: np.ndarray,
    scores: Mapping[str, np.ndarray],
    cards: np.ndarray,
    review_working: Mapping[str, bool],
    config: GateConfig,
) -> GateDecision:
    """Pick the served model from `scores` (validation scores per candidate, (b) first)."""
    reference, *others = scores
    y_valid = np.asarray(y_valid, dtype=int)
    auc = {k: evaluate.ranking_metrics(y_valid, s)["auc_pr"] for k, s in scores.items()}
    intervals = evaluate.card_bootstrap(
        y_valid, scores, cards, [(k, reference) for k in others], n=config.bootstrap, seed=config.seed
    )
    fraud_cards = len(np.unique(cards[y_valid == 1]))
    reports = {k: _report(k, reference, auc, intervals, review_working[k]) for k in scores}
    eligible = [k for k in scores if reports[k].eligible]
    if not eligible:
        reason = "no model has a working review threshold on validation: not servable"
        return GateDecision(reference, False, reason, fraud_cards, reports)
    if fraud_cards < config.min_fraud_cards and reference in eligible:
        reason = (
            f"validation has frauds on only {fraud_cards} card(s) (< {config.min_fraud_cards}): no model"
            f" comparison is conclusive, so the simplest model, {reference}, is served"
        )
        return GateDecision(reference, True, reason, fraud_cards, reports)
    best = max(eligible, key=lambda k: (auc[k], -list(scores).index(k)))
    reason = f"best validation AUC-PR among eligible models: {best} {auc[best]:.3f}"
    if best != reference:
        lo, hi = reports[best].difference_ci95 or [float("nan")] * 2
        reason += f" vs {reference} {auc[reference]:.3f} (difference 95% interval [{lo:.3f}, {hi:.3f}])"
    return GateDecision(best, True, reason, fraud_cards, reports)


def _report(
    key: str, reference: str, auc: Mapping[str, float], intervals: Mapping[str, list[float]], working: bool
) -> CandidateReport:
    difference = intervals.get(f"{key}-{reference}", []) if key != reference else []
    if not working:
        return CandidateReport(auc[key], difference, False, False, "no working review threshold")
    if difference and difference[1] < 0:
        lo, hi = difference
        note = f"worse than {reference} beyond noise (difference interval [{lo:.3f}, {hi:.3f}])"
        return CandidateReport(auc[key], difference, True, False, note)
    return CandidateReport(auc[key], difference, True, True, "eligible")
