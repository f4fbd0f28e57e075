"""Metrics, the seeds' rule baseline, calibration and decision thresholds.

Serving imports `Calibration` and `decisions` from here, so scikit-learn (not in the API image) is
imported only inside the training-side functions.

Ranking metrics (AUC-PR = average precision, ROC-AUC, recall at fixed precision) are computed on
held-out rows only. Confidence intervals resample *cards*, not rows: frauds come in bursts on one
card, so a row bootstrap would pretend to have many more independent frauds than there are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from fraudlake.ml.features import FEATURE_NAMES

_COL = {name: i for i, name in enumerate(FEATURE_NAMES)}


def seed_rule(x_tab: np.ndarray) -> np.ndarray:
    """Baseline (a): within 10 minutes on the card (this transaction included) at least 2 transactions
    whose total exceeds the user's average spending so far. Returns 0/1 scores."""
    count = x_tab[:, _COL["card_count_10m"]] + 1
    total = x_tab[:, _COL["card_sum_10m"]] + x_tab[:, _COL["amount"]]
    average = x_tab[:, _COL["user_mean_all"]]
    return ((count >= 2) & (total > np.nan_to_num(average, nan=np.inf))).astype(np.float64)


def recall_at_precision(y: np.ndarray, score: np.ndarray, precision: float) -> float:
    """Highest recall of any threshold whose precision reaches `precision` (0 if none does)."""
    from sklearn.metrics import precision_recall_curve

    if y.sum() == 0:
        return float("nan")
    prec, rec, _ = precision_recall_curve(y, score)
    ok = prec >= precision
    return float(rec[ok].max()) if ok.any() else 0.0


def ranking_metrics(y: np.ndarray, score: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = np.asarray(y, dtype=int)
    if y.sum() == 0 or y.sum() == len(y):
        nan = float("nan")
        return {"auc_pr": nan, "roc_auc": nan, "recall_at_p90": nan, "recall_at_p95": nan}
    return {
        "auc_pr": float(average_precision_score(y, score)),
        "roc_auc": float(roc_auc_score(y, score)),
        "recall_at_p90": recall_at_precision(y, score, 0.90),
        "recall_at_p95": recall_at_precision(y, score, 0.95),
    }


def card_bootstrap(
    y: np.ndarray,
    scores: Mapping[str, np.ndarray],
    cards: np.ndarray,
    pairs: list[tuple[str, str]],
    n: int = 200,
    seed: int = 0,
) -> dict[str, list[float]]:
    """95% intervals of AUC-PR per model and of the differences `a - b` for each pair (a, b)."""
    ranked = {k: RankedScores(y, s) for k, s in scores.items()}
    rng = np.random.default_rng(seed)
    _, card_idx = np.unique(cards, return_inverse=True)
    n_cards = int(card_idx.max()) + 1
    draws: dict[str, list[float]] = {k: [] for k in [*scores, *(f"{a}-{b}" for a, b in pairs)]}
    for _ in range(n):
        weight = np.bincount(rng.integers(0, n_cards, n_cards), minlength=n_cards)[card_idx]
        if y[weight > 0].sum() == 0:
            continue
        ap = {k: r.average_precision(weight) for k, r in ranked.items()}
        for k, v in ap.items():
            draws[k].append(v)
        for a, b in pairs:
            draws[f"{a}-{b}"].append(ap[a] - ap[b])
    return {
        k: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))] if v else []
        for k, v in draws.items()
    }


class RankedScores:
    """One model's held-out scores sorted once, so the average precision of each bootstrap draw is
    two cumulative sums instead of a sort (on millions of test rows, the difference between seconds
    and many minutes for a few hundred draws). Equal to scikit-learn's `average_precision_score` with
    the same `sample_weight` (ties form one threshold; zero-weight rows change nothing)."""

    def __init__(self, y: np.ndarray, score: np.ndarray):
        self.order = np.argsort(-np.asarray(score, dtype=np.float64), kind="stable")
        self.y = np.asarray(y, dtype=np.float64)[self.order]
        ranked = np.asarray(score)[self.order]
        self.ends = np.r_[np.flatnonzero(ranked[1:] != ranked[:-1]), len(ranked) - 1]  # one per threshold

    def average_precision(self, weight: np.ndarray) -> float:
        w = np.asarray(weight, dtype=np.float64)[self.order]
        tp = np.cumsum(w * self.y)[self.ends]
        flagged = np.cumsum(w)[self.ends]
        precision = np.divide(tp, flagged, out=np.zeros_like(tp), where=flagged > 0)
        recall = tp / tp[-1]
        return float(np.sum(np.diff(recall, prepend=0.0) * precision))


@dataclass(frozen=True)
class Calibration:
    """Isotonic map raw score → probability, stored as interpolation knots (numpy-only at serving)."""

    knots_x: np.ndarray
    knots_y: np.ndarray

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        return np.interp(raw, self.knots_x, self.knots_y)

    @classmethod
    def fit(cls, raw: np.ndarray, y: np.ndarray) -> Calibration:
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y)
        return cls(
            np.asarray(iso.X_thresholds_, dtype=np.float64), np.asarray(iso.y_thresholds_, dtype=np.float64)
        )


ThresholdBasis = str  # "precision": reaches a target precision on validation; "capacity": a queue size


@dataclass(frozen=True)
class Threshold:
    value: float  # score ≥ value; +inf when the band is off
    precision: float  # on the validation period (NaN when off)
    recall: float
    reachable: bool  # the band is on
    basis: ThresholdBasis = "precision"
    capacity: float | None = None  # "capacity": the share of transactions the queue may hold
    flagged_share: float = 0.0  # share of validation transactions at or above the threshold

    @property
    def working(self) -> bool:
        """The band is on and catches fraud on validation (a queue of only legitimate rows is not)."""
        return self.reachable and np.isfinite(self.value) and self.recall > 0


def _cumulative(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(distinct score values, rows flagged, frauds flagged) for each threshold, highest first."""
    order = np.argsort(-score, kind="stable")
    s, hits = score[order], np.cumsum(y[order])
    last_of_value = np.append(s[1:] != s[:-1], True)  # thresholds fall between distinct scores
    return s[last_of_value], np.arange(1, len(s) + 1)[last_of_value], hits[last_of_value]


def choose_threshold(
    y: np.ndarray, score: np.ndarray, target_precision: float, min_positives: int = 3
) -> Threshold:
    """Lowest threshold whose precision on (y, score) reaches the target, i.e. the most recall at it.

    A threshold must flag at least `min_positives` frauds, so a single lucky fraud on top of the
    ranking does not set a decline rule.
    """
    y = np.asarray(y, dtype=int)
    values, flagged, tp = _cumulative(y, score)
    precision = tp / flagged
    ok = (precision >= target_precision) & (tp >= min_positives)
    if not ok.any():
        return Threshold(float("inf"), float("nan"), 0.0, False)
    best = np.flatnonzero(ok)[-1]
    total = max(int(y.sum()), 1)
    share = float(flagged[best] / len(y))
    return Threshold(
        float(values[best]), float(precision[best]), float(tp[best] / total), True, "precision", None, share
    )


def capacity_threshold(y: np.ndarray, score: np.ndarray, capacity: float) -> Threshold:
    """The review queue analysts can work: the highest-scored `capacity` share of transactions.

    The threshold is the lowest score whose queue stays within the capacity; when the top score alone
    is tied over more rows than that (a coarse calibration step), the queue is that top group, and
    `flagged_share` says how far it overflows.
    """
    y = np.asarray(y, dtype=int)
    values, flagged, tp = _cumulative(y, score)
    fits = np.flatnonzero(flagged <= capacity * len(y))
    best = int(fits[-1]) if len(fits) else 0
    total = max(int(y.sum()), 1)
    return Threshold(
        float(values[best]),
        float(tp[best] / flagged[best]),
        float(tp[best] / total),
        True,
        "capacity",
        capacity,
        float(flagged[best] / len(y)),
    )


def review_threshold(y: np.ndarray, score: np.ndarray, target_precision: float, capacity: float) -> Threshold:
    """The review band: the precision target when validation reaches it, else the capacity queue, so
    a model always sends its riskiest transactions to an analyst."""
    by_precision = choose_threshold(y, score, target_precision)
    return by_precision if by_precision.reachable else capacity_threshold(y, score, capacity)


def decisions(score: np.ndarray, review: float, decline: float) -> np.ndarray:
    """'approve' / 'review' / 'decline' for calibrated scores."""
    return np.where(score >= decline, "decline", np.where(score >= review, "review", "approve"))


def decision_table(y: np.ndarray, decided: np.ndarray) -> dict[str, dict[str, float]]:
    """Per decision: rows, frauds, precision (fraud share) and share of all frauds."""
    total = max(int(np.sum(y)), 1)
    out = {}
    for name in ("approve", "review", "decline"):
        mask = decided == name
        frauds = int(np.sum(y[mask]))
        rows = int(mask.sum())
        out[name] = {
            "rows": rows,
            "frauds": frauds,
            "precision": frauds / rows if rows else float("nan"),
            "fraud_share": frauds / total,
        }
    return out
