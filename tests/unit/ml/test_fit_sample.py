"""The fit-row budget: XGBoost fits every fraud and a weighted sample of the legitimate rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraudlake.ml import data, evaluate
from fraudlake.ml.batch_features import batch_features
from fraudlake.ml.chunked_features import frame_chunks
from fraudlake.ml.features import FEATURE_NAMES, FeatureConfig
from fraudlake.ml.out_of_core import build_store, fit_xgb, predict_rows
from fraudlake.ml.train import TrainConfig, XgbConfig, _fit_xgb, fit_sample, predict, split_bounds

pytestmark = pytest.mark.unit


def labels(n: int, frauds: int, seed: int = 0) -> np.ndarray:
    y = np.zeros(n, dtype=np.int8)
    y[np.random.default_rng(seed).choice(n, frauds, replace=False)] = 1
    return y


def test_within_the_budget_every_row_is_fitted_unweighted() -> None:
    y = labels(1_000, 10)
    assert fit_sample(y, 1_000, seed=7).rows is None
    assert fit_sample(y, None, seed=7).rows is None
    assert fit_sample(y, 999, seed=7).rows is not None


def test_over_the_budget_every_fraud_stays_and_legitimate_rows_carry_their_sampling_rate() -> None:
    y = labels(100_000, 120)
    sample = fit_sample(y, 10_000, seed=7)
    assert sample.rows is not None
    assert len(sample.rows) == 10_000
    assert np.all(np.diff(sample.rows) > 0)  # sorted, no repeats: chunk readers walk them in order
    assert set(np.flatnonzero(y)) <= set(sample.rows)
    assert sample.legit_weight == pytest.approx((100_000 - 120) / (10_000 - 120))
    weights = sample.weights(y[sample.rows])
    assert weights is not None
    # Weighted, the sample holds as many legitimate rows as the data: the booster sees its base rate.
    assert weights[y[sample.rows] == 0].sum() == pytest.approx(100_000 - 120)
    assert np.array_equal(fit_sample(y, 10_000, seed=7).rows, sample.rows)  # seeded
    assert not np.array_equal(fit_sample(y, 10_000, seed=8).rows, sample.rows)
    assert sample.to_json(len(y)) == {"rows": 100_000, "fitted": 10_000, "legit_weight": sample.legit_weight}


def test_frauds_are_never_dropped_even_past_the_budget() -> None:
    y = labels(1_000, 300)
    sample = fit_sample(y, 200, seed=1)
    assert sample.rows is not None
    assert y[sample.rows].sum() == 300
    assert len(sample.rows) == 301  # every fraud and one legitimate row


CONFIG = TrainConfig(features=FeatureConfig(label_delay_ms=2 * 86_400_000), bootstrap=20)


def test_both_paths_fit_the_same_weighted_sample(small_frame: pd.DataFrame, tmp_path) -> None:
    """Under a budget a fifth of the fit period, the in-memory and chunked fits rank alike, and the
    weights restore the base rate: unweighted, a sample with a fifth of the legitimate rows would
    predict about five times the fraud rate."""
    store = build_store(frame_chunks(small_frame, 700), CONFIG, tmp_path)
    y = small_frame["is_fraud"].to_numpy().astype(int)
    bounds = split_bounds(store.column("event_ms"), CONFIG.split)
    (flo, fhi), (vlo, vhi), (tlo, thi) = bounds["fit"], bounds["valid"], bounds["test"]
    cfg = XgbConfig(max_fit_rows=(fhi - flo) // 5)
    x = batch_features(data.columns(small_frame), CONFIG.features).astype(np.float32)
    memory = _fit_xgb(x[flo:fhi], y[flo:fhi], x[vlo:vhi], y[vlo:vhi], list(FEATURE_NAMES), cfg)
    chunked = fit_xgb(store, bounds["fit"], bounds["valid"], cfg)
    ap_memory = evaluate.ranking_metrics(y[tlo:thi], predict(memory, x[tlo:thi]))["auc_pr"]
    ap_chunked = evaluate.ranking_metrics(y[tlo:thi], predict_rows(chunked, store, tlo, thi)[0])["auc_pr"]
    assert ap_memory > 2 * y[tlo:thi].mean()
    assert abs(ap_chunked - ap_memory) <= 0.05
    rate = y[flo:fhi].mean()
    mean_score = predict(memory, x[flo:fhi]).mean()
    assert mean_score < 2.5 * rate, (mean_score, rate)
