"""The numpy tree walk computes what XGBoost computes: margins and probabilities bit for bit, and
XGBoost's path attributions (`pred_contribs=True, approx_contribs=True`)."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost

from fraudlake.ml.artifact import FraudModel
from fraudlake.scoring.trees import TreeEnsemble

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def booster(model_files: dict[str, bytes]) -> xgboost.Booster:
    return FraudModel(model_files).booster


def _inputs(n_features: int, rows: int = 500) -> np.ndarray:
    rng = np.random.default_rng(11)
    x = (rng.normal(size=(rows, n_features)) * rng.choice([0.1, 1, 100, 1e4], size=n_features)).astype(
        np.float32
    )
    x[rng.random(x.shape) < 0.15] = np.nan  # missing values take the default branch
    return x


def test_margins_and_probabilities_equal_xgboost_bit_for_bit(booster: xgboost.Booster) -> None:
    trees = TreeEnsemble.from_booster(booster)
    assert trees is not None
    x = _inputs(booster.num_features())
    leaves, _ = trees.walk(x, contributions=False)
    dmatrix = xgboost.DMatrix(x)
    np.testing.assert_array_equal(trees.margin(leaves), booster.predict(dmatrix, output_margin=True,
                                                                        validate_features=False))  # fmt: skip
    np.testing.assert_array_equal(
        trees.probability(leaves), booster.predict(dmatrix, validate_features=False)
    )
    np.testing.assert_array_equal(
        trees.probability(leaves), booster.inplace_predict(x, validate_features=False)
    )
    np.testing.assert_array_equal(leaves - trees.roots, booster.predict(dmatrix, pred_leaf=True,
                                                                        validate_features=False))  # fmt: skip
    # One row at a time (the single score's path) lands on the same leaves.
    for i in range(0, len(x), 50):
        np.testing.assert_array_equal(trees.walk(x[i : i + 1], contributions=False)[0], leaves[i : i + 1])


def test_contributions_equal_xgboost_path_attributions(booster: xgboost.Booster) -> None:
    trees = TreeEnsemble.from_booster(booster)
    assert trees is not None
    x = _inputs(booster.num_features(), rows=100)
    _, contributions = trees.walk(x, contributions=True)
    expected = booster.predict(
        xgboost.DMatrix(x), pred_contribs=True, approx_contribs=True, validate_features=False
    )
    np.testing.assert_allclose(contributions, expected, rtol=1e-5, atol=1e-5)
    for i in range(0, len(x), 10):
        _, one = trees.walk(x[i : i + 1], contributions=True)
        np.testing.assert_allclose(one, expected[i : i + 1], rtol=1e-5, atol=1e-5)


def test_models_it_cannot_walk_are_left_to_xgboost() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(200, 3)), rng.normal(size=200)
    regression = xgboost.train({"objective": "reg:squarederror"}, xgboost.DMatrix(x, y), 3)
    assert TreeEnsemble.from_booster(regression) is None
