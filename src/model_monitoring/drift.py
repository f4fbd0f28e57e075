"""Drift math, pure numpy: population stability index (PSI) on bins fixed by the reference window,
alert rate and the precision of flagged cases whose labels have had time to arrive.

PSI compares the share of rows in each bin: ``sum((recent - reference) * ln(recent / reference))``.
The bins are cut at the reference window's quantiles, so each holds about the same share of the
reference rows and the index does not depend on the feature's unit. The same cut points must be used
for both windows; they come from the reference alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

# The industry's usual reading of PSI (credit-scoring practice, e.g. Siddiqi, "Credit Risk
# Scorecards"): below 0.1 the population is stable; 0.1–0.2 is a moderate shift worth watching;
# 0.2 and above the population has changed enough that the model's scores no longer mean what they
# meant in training. With ten quantile bins, a normal feature moved by ~0.45 standard deviations
# reaches 0.2, while two samples of the same distribution stay far below 0.1 at the row counts a
# drift run sees (thousands), so these thresholds separate shift from sampling noise.
WARN_PSI = 0.1
DRIFTING_PSI = 0.2
DEFAULT_BINS = 10
# Below this many rows in either window the bin shares are noise: the feature is not judged.
MIN_ROWS = 100
# An empty bin would make ln(recent / reference) infinite; a share this small stands in for zero
# (a recent window with no rows in a bin that held 10 % of the reference still scores high).
_EMPTY_SHARE = 1e-4

Level = Literal["ok", "warn", "drifting", "insufficient"]


@dataclass(frozen=True)
class FeatureDrift:
    """One monitored column's PSI between the reference and the recent window."""

    feature: str
    psi: float | None  # None when a window had fewer than MIN_ROWS rows
    level: Level
    reference_rows: int
    recent_rows: int


def quantile_cuts(reference: np.ndarray, bins: int = DEFAULT_BINS) -> np.ndarray:
    """Interior cut points at the reference's quantiles, duplicates merged (a column with few
    distinct values, e.g. a 0/1 flag, gets fewer bins rather than empty ones)."""
    values = _finite(reference)
    if values.size == 0:
        return np.empty(0)
    return np.unique(np.quantile(values, np.arange(1, bins) / bins))


def bin_shares(values: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Share of `values` in each of the ``len(cuts) + 1`` bins: (-inf, c0), [c0, c1), …, [c_last, inf)."""
    finite = _finite(values)
    counts = np.bincount(np.searchsorted(cuts, finite, side="right"), minlength=cuts.size + 1)
    return counts / max(finite.size, 1)


def psi(reference_shares: np.ndarray, recent_shares: np.ndarray) -> float:
    """Population stability index of two share vectors over the same bins."""
    expected = np.maximum(np.asarray(reference_shares, dtype=float), _EMPTY_SHARE)
    actual = np.maximum(np.asarray(recent_shares, dtype=float), _EMPTY_SHARE)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def level_of(value: float | None) -> Level:
    if value is None:
        return "insufficient"
    if value >= DRIFTING_PSI:
        return "drifting"
    return "warn" if value >= WARN_PSI else "ok"


def feature_drift(
    feature: str, reference: np.ndarray, recent: np.ndarray, bins: int = DEFAULT_BINS
) -> FeatureDrift:
    """PSI of `recent` against `reference` on the reference's quantile bins."""
    reference, recent = _finite(reference), _finite(recent)
    if min(reference.size, recent.size) < MIN_ROWS:
        return FeatureDrift(feature, None, "insufficient", reference.size, recent.size)
    cuts = quantile_cuts(reference, bins)
    value = psi(bin_shares(reference, cuts), bin_shares(recent, cuts))
    return FeatureDrift(feature, value, level_of(value), reference.size, recent.size)


def drifting(drifts: Iterable[FeatureDrift]) -> list[str]:
    """Names of the columns at or above DRIFTING_PSI, worst first."""
    found = [d for d in drifts if d.level == "drifting"]
    return [d.feature for d in sorted(found, key=lambda d: -(d.psi or 0.0))]


def alert_rate(decisions: Sequence[str]) -> float | None:
    """Share of decisions that raised an alert (review or decline); None without decisions."""
    if not decisions:
        return None
    return sum(d in ("review", "decline") for d in decisions) / len(decisions)


def flagged_precision(flagged_labels: Sequence[bool]) -> float | None:
    """Precision of flagged cases: the share of frauds among the labels of flagged transactions.

    The caller passes only transactions older than the label delay: a younger one's chargeback may
    still be on its way, and counting it as legitimate would understate precision.
    """
    if not flagged_labels:
        return None
    return sum(bool(label) for label in flagged_labels) / len(flagged_labels)


def _finite(values: np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    return array[np.isfinite(array)]
