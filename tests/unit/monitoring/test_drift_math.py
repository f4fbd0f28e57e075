"""PSI on known distributions: a shifted normal drifts, a second sample of the same one does not."""

from __future__ import annotations

import numpy as np
import pytest

from fraudlake.model_monitoring import drift

pytestmark = pytest.mark.unit


def _normal(seed: int, mean: float = 0.0, n: int = 5000) -> np.ndarray:
    return np.random.default_rng(seed).normal(mean, 1.0, n)


def test_a_second_sample_of_the_same_distribution_is_stable() -> None:
    result = drift.feature_drift("amount", _normal(1), _normal(2))
    assert result.level == "ok"
    assert result.psi is not None
    assert result.psi < drift.WARN_PSI


def test_a_normal_shifted_by_one_standard_deviation_is_drifting() -> None:
    result = drift.feature_drift("amount", _normal(1), _normal(2, mean=1.0))
    assert result.level == "drifting"
    assert result.psi is not None
    assert result.psi >= drift.DRIFTING_PSI


def test_psi_grows_with_the_shift() -> None:
    reference = _normal(1)
    values = [drift.feature_drift("x", reference, _normal(2, mean=m)).psi for m in (0.1, 0.3, 0.6, 1.0)]
    assert values == sorted(values)


def test_psi_of_known_shares_matches_the_formula() -> None:
    # Two bins, 50/50 against 80/20: (0.8-0.5)ln(0.8/0.5) + (0.2-0.5)ln(0.2/0.5)
    expected = 0.3 * np.log(1.6) - 0.3 * np.log(0.4)
    assert drift.psi(np.array([0.5, 0.5]), np.array([0.8, 0.2])) == pytest.approx(expected)


def test_cuts_come_from_the_reference_and_bins_hold_equal_reference_shares() -> None:
    reference = np.arange(1000, dtype=float)
    cuts = drift.quantile_cuts(reference, bins=4)
    assert cuts.tolist() == pytest.approx([249.75, 499.5, 749.25])
    assert drift.bin_shares(reference, cuts).tolist() == pytest.approx([0.25] * 4)


def test_a_flag_gets_its_values_as_bins_and_a_flip_in_its_rate_drifts() -> None:
    rng = np.random.default_rng(3)
    reference = (rng.random(4000) < 0.1).astype(float)
    assert drift.bin_shares(reference, drift.quantile_cuts(reference)).size <= 3
    assert drift.feature_drift("online", reference, (rng.random(4000) < 0.1).astype(float)).level == "ok"
    assert (
        drift.feature_drift("online", reference, (rng.random(4000) < 0.4).astype(float)).level == "drifting"
    )


def test_a_recent_value_outside_every_reference_bin_counts_in_the_edge_bins() -> None:
    reference = _normal(1)
    far = np.full(500, 100.0)
    result = drift.feature_drift("amount", reference, far)
    assert result.level == "drifting"


def test_too_few_rows_are_not_judged_and_nan_is_ignored() -> None:
    small = drift.feature_drift("amount", _normal(1), _normal(2, n=drift.MIN_ROWS - 1))
    assert (small.psi, small.level) == (None, "insufficient")
    with_nan = np.concatenate([_normal(2), np.full(50, np.nan)])
    assert drift.feature_drift("amount", _normal(1), with_nan).recent_rows == 5000


def test_levels_and_drifting_names_worst_first() -> None:
    assert [drift.level_of(v) for v in (0.05, 0.1, 0.19, 0.2, None)] == [
        "ok",
        "warn",
        "warn",
        "drifting",
        "insufficient",
    ]
    results = [
        drift.FeatureDrift("a", 0.3, "drifting", 1, 1),
        drift.FeatureDrift("b", 0.05, "ok", 1, 1),
        drift.FeatureDrift("c", 0.9, "drifting", 1, 1),
    ]
    assert drift.drifting(results) == ["c", "a"]


def test_alert_rate_and_flagged_precision() -> None:
    assert drift.alert_rate(["approve", "review", "decline", "approve"]) == 0.5
    assert drift.alert_rate([]) is None
    assert drift.flagged_precision([True, False, False, True]) == 0.5
    assert drift.flagged_precision([]) is None
