"""Out-of-core training: XGBoost from a DataIter over stored feature chunks, against the in-memory fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraudlake.ml import data, evaluate
from fraudlake.ml.batch_features import batch_features
from fraudlake.ml.chunked_features import frame_chunks
from fraudlake.ml.features import FEATURE_NAMES, FeatureConfig
from fraudlake.ml.graph import graph_columns
from fraudlake.ml.out_of_core import build_store, fit_xgb, graph_columns_of, predict_rows, train_chunked
from fraudlake.ml.train import TrainConfig, XgbConfig, _fit_xgb, predict, split_bounds

pytestmark = pytest.mark.unit
CONFIG = TrainConfig(features=FeatureConfig(label_delay_ms=2 * 86_400_000), bootstrap=20)
# The in-memory and out-of-core fits see the same rows; the quantile sketch is merged chunk by chunk,
# so bin edges (and hence trees) may differ slightly: test AUC-PR must agree within this.
AUC_PR_TOLERANCE = 0.05


@pytest.fixture(scope="module")
def store(small_frame: pd.DataFrame, tmp_path_factory):
    return build_store(frame_chunks(small_frame, 700), CONFIG, tmp_path_factory.mktemp("store"))


def test_the_store_holds_the_in_memory_features(small_frame: pd.DataFrame, store) -> None:
    memory = batch_features(data.columns(small_frame), CONFIG.features).astype(np.float32)
    stored = np.vstack([x for x, _ in store.pieces((0, store.rows))])
    np.testing.assert_array_equal(stored, memory)
    np.testing.assert_array_equal(store.column("y"), small_frame["is_fraud"].to_numpy())
    assert len(store.files) == -(-len(small_frame) // 700)
    middle = np.vstack([x for x, _ in store.pieces((650, 1500))])  # a range across chunk edges
    np.testing.assert_array_equal(middle, memory[650:1500])


def test_iterator_fit_ranks_like_the_in_memory_fit(small_frame: pd.DataFrame, store) -> None:
    y = small_frame["is_fraud"].to_numpy().astype(int)
    bounds = split_bounds(store.column("event_ms"), CONFIG.split)
    (flo, fhi), (vlo, vhi), (tlo, thi) = bounds["fit"], bounds["valid"], bounds["test"]
    x = batch_features(data.columns(small_frame), CONFIG.features).astype(np.float32)
    memory = _fit_xgb(x[flo:fhi], y[flo:fhi], x[vlo:vhi], y[vlo:vhi], list(FEATURE_NAMES), CONFIG.xgb)
    chunked = fit_xgb(store, bounds["fit"], bounds["valid"], CONFIG.xgb)
    ap_memory = evaluate.ranking_metrics(y[tlo:thi], predict(memory, x[tlo:thi]))["auc_pr"]
    scores, rule = predict_rows(chunked, store, tlo, thi)
    ap_chunked = evaluate.ranking_metrics(y[tlo:thi], scores)["auc_pr"]
    assert ap_memory > 2 * y[tlo:thi].mean()  # both learned something: well above the fraud rate
    assert abs(ap_chunked - ap_memory) <= AUC_PR_TOLERANCE
    np.testing.assert_array_equal(rule, evaluate.seed_rule(x[tlo:thi]))


def test_chunked_training_reports_metrics_and_its_run(small_frame: pd.DataFrame) -> None:
    result = train_chunked(frame_chunks(small_frame, 1000), CONFIG)
    m = result.metrics
    assert set(m["test"]) == {"a_rule", "b_xgb_tabular"}
    assert m["served_model"] == "b_xgb_tabular"
    assert sum(p["rows"] for p in m["periods"].values()) == len(small_frame)
    run = m["training_run"]
    assert run["path"] == "chunked"
    assert run["rows"] == len(small_frame)
    assert set(run["stages"]) == {"tabular features (chunked)", "XGBoost b_xgb_tabular", "evaluation"}
    assert all(s["peak_rss_gb"] > 0 for s in run["stages"].values())
    assert len(result.evaluation["y"]) == m["periods"]["test"]["rows"]


def test_small_rounds_config_is_honoured(small_frame: pd.DataFrame, store) -> None:
    bounds = split_bounds(store.column("event_ms"), CONFIG.split)
    booster = fit_xgb(store, bounds["fit"], bounds["valid"], XgbConfig(rounds=3, early_stopping=3))
    assert booster.num_boosted_rounds() <= 3


def test_extra_columns_follow_the_tabular_ones_in_every_reader(small_frame: pd.DataFrame, tmp_path) -> None:
    """Graph columns stored beside each chunk reach XGBoost (iterator, Dask blocks) after the tabular
    ones, for ranges and for row indices across chunk edges."""
    from fraudlake.ml.out_of_core import _dask_rows

    store = build_store(frame_chunks(small_frame, 700), CONFIG, tmp_path)
    extra = np.arange(store.rows * 2, dtype=np.float32).reshape(-1, 2)
    for a, b in zip(store.offsets[:-1], store.offsets[1:], strict=True):
        store.append_extra("graph", extra[a:b])
    tabular = np.vstack([x for x, _ in store.pieces((0, store.rows))])
    both = np.hstack([tabular, extra])
    np.testing.assert_array_equal(
        np.vstack([x for x, _ in store.pieces((650, 1500), ("graph",))]), both[650:1500]
    )
    rows = np.array([3, 699, 700, 701, 2500, store.rows - 1])
    np.testing.assert_array_equal(np.vstack([x for x, _ in store.pieces(rows, ("graph",))]), both[rows])
    labels = np.concatenate([y for _, y in store.pieces(rows)])
    np.testing.assert_array_equal(labels, store.column("y")[rows])
    x, y = _dask_rows(store, 650, 1500, ("graph",))
    np.testing.assert_array_equal(x.compute(), both[650:1500])
    np.testing.assert_array_equal(y.compute(), store.column("y")[650:1500])


def test_the_store_s_graph_columns_are_the_in_memory_ones_held_once(
    small_frame: pd.DataFrame, tmp_path
) -> None:
    """`graph_columns_of` gives `graph.graph_columns`'s columns, and they are the store's own arrays:
    at 24M rows a second copy of the per-row columns is about 1.5 GB."""
    store = build_store(frame_chunks(small_frame, 700), CONFIG, tmp_path)
    memory, _ = graph_columns(data.columns(small_frame))
    suspect = np.zeros(store.rows, dtype=bool)
    chunked = graph_columns_of(store, suspect)
    for name in ("event_ms", "user", "card", "merchant", "log_amount", "online", "error", "fraud"):
        np.testing.assert_array_equal(getattr(chunked, name), getattr(memory, name), err_msg=name)
    assert np.shares_memory(chunked.card, store.column("cards"))
    assert np.shares_memory(chunked.event_ms, store.column("event_ms"))
    assert np.shares_memory(chunked.log_amount, store.values[0]["log_amount"])
    assert len(store.y) == len(store.files)  # labels stay per chunk for `pieces`
