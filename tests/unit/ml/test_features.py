"""One feature spec, two paths: batch (training) and online (serving) agree, and neither looks ahead."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from fraudlake.ml import data
from fraudlake.ml.batch_features import batch_features
from fraudlake.ml.features import (
    EVENT_MS,
    FEATURE_NAMES,
    FEATURES,
    INPUT_FIELDS,
    LABEL,
    OWN_FIELDS,
    RAW_AGGREGATES,
    FeatureConfig,
    assemble_one,
    formula_names,
    graph_features,
    spec_json,
)
from fraudlake.ml.online import OnlineFeatureState

pytestmark = pytest.mark.unit
COL = {name: i for i, name in enumerate(FEATURE_NAMES)}
CONFIG = FeatureConfig(label_delay_ms=2 * 86_400_000)


def online_features(frame: pd.DataFrame, config: FeatureConfig = CONFIG) -> np.ndarray:
    state = OnlineFeatureState(config)
    rows = []
    for txn in frame.to_dict("records"):
        rows.append(state.features(txn)[0])
        state.update(txn)
    return np.array(rows)


def test_batch_and_online_paths_give_identical_values(small_frame: pd.DataFrame) -> None:
    batch = batch_features(data.columns(small_frame), CONFIG)
    online = online_features(small_frame)
    assert batch.shape == (len(small_frame), len(FEATURE_NAMES))
    np.testing.assert_array_equal(batch, online)  # exact, NaN == NaN: no tolerance needed
    assert np.isnan(batch[:, COL["card_secs_since_last"]]).any()  # first transactions are covered
    assert batch[:, COL["merchant_known_frauds"]].max() > 0  # label-delayed risk is exercised


def test_paths_agree_on_the_real_user0_file(user0_path) -> None:
    frame = data.read_file(user0_path).iloc[:3000]
    np.testing.assert_array_equal(batch_features(data.columns(frame), CONFIG), online_features(frame))


def test_features_ignore_everything_after_the_transaction(small_frame: pd.DataFrame) -> None:
    cut = len(small_frame) // 2
    before = batch_features(data.columns(small_frame), CONFIG)[:cut]
    future = small_frame.copy()
    later = np.arange(len(future)) >= cut
    rng = np.random.default_rng(5)
    future.loc[later, "amount"] = rng.uniform(-500, 5000, later.sum()).round(2)
    future.loc[later, "is_fraud"] = ~future.loc[later, "is_fraud"]
    future.loc[later, "merchant_id"] = rng.permutation(future.loc[later, "merchant_id"].to_numpy())
    future.loc[later, "merchant_state"] = "Mars"
    extra = future[later].copy()  # and twice as many future rows
    extra["txn_id"] = "f" + extra["txn_id"].str[1:]
    future = data.prepare(pd.concat([future, extra]))
    assert future["txn_id"].iloc[:cut].tolist() == small_frame["txn_id"].iloc[:cut].tolist()
    np.testing.assert_array_equal(batch_features(data.columns(future), CONFIG)[:cut], before)


def test_labels_count_only_after_the_label_delay(small_frame: pd.DataFrame) -> None:
    t = small_frame["event_ms"].to_numpy()
    i = len(small_frame) - 1
    recent = (t > t[i] - CONFIG.label_delay_ms) & (np.arange(len(t)) < i)
    flipped = small_frame.copy()
    flipped.loc[recent, "is_fraud"] = True
    row = batch_features(data.columns(flipped), CONFIG)[i]
    np.testing.assert_array_equal(row, batch_features(data.columns(small_frame), CONFIG)[i])
    same_merchant = (small_frame["merchant_id"] == small_frame["merchant_id"].iloc[i]).to_numpy()
    old = same_merchant & (t <= t[i] - CONFIG.label_delay_ms)
    flipped.loc[old, "is_fraud"] = True
    assert batch_features(data.columns(flipped), CONFIG)[i, COL["merchant_known_frauds"]] == old.sum()


def _txn(
    minute: int,
    amount: float,
    card: str = "1-0",
    merchant: str = "m1",
    state: str | None = "CA",
    fraud: bool = False,
) -> dict:
    return {
        "txn_id": f"{minute:04d}{card}",
        "event_ts": pd.Timestamp("2020-01-01", tz="UTC") + pd.Timedelta(minutes=minute),
        "user_id": card.split("-")[0],
        "card_id": card,
        "merchant_id": merchant,
        "amount": amount,
        "use_chip": "Swipe Transaction",
        "merchant_city": "X",
        "merchant_state": state,
        "mcc": 5411,
        "errors": None,
        "is_fraud": fraud,
    }


def test_window_edges_and_novelty_by_hand() -> None:
    frame = data.prepare(
        pd.DataFrame(
            [
                _txn(0, 10.0),
                _txn(5, 20.0),
                _txn(5, 30.0, merchant="m2"),
                _txn(64, 40.0, state="NY"),
                _txn(65, 1.0),
            ]
        )
    )
    x = batch_features(data.columns(frame), FeatureConfig())
    assert x[:, COL["card_count_10m"]].tolist() == [0, 1, 2, 0, 1]
    # windows are (t - 1h, t): at minute 64 both minute-5 rows count, at 65 they are exactly 1h old
    assert x[:, COL["card_count_1h"]].tolist() == [0, 1, 2, 2, 1]
    assert x[3, COL["card_sum_1h"]] == 50.0
    assert x[:, COL["card_merchant_prior_txns"]].tolist() == [0, 1, 0, 2, 3]
    assert x[:, COL["user_state_jump"]].tolist() == [0, 0, 0, 1, 1]
    assert x[3, COL["card_secs_since_last"]] == 59 * 60.0
    assert x[1, COL["user_mean_all"]] == 10.0


def test_late_fraud_label_counts_after_the_delay() -> None:
    cfg = FeatureConfig(label_delay_ms=60_000 * 60)
    state = OnlineFeatureState(cfg)
    first = _txn(0, 10.0)
    state.update(first)
    state.add_fraud_label(first)  # a chargeback for a row seen without a label
    assert state.features(_txn(30, 5.0, card="2-0"))[0, COL["merchant_known_frauds"]] == 0
    assert state.features(_txn(61, 5.0, card="2-0"))[0, COL["merchant_known_frauds"]] == 1


def test_spec_is_complete_and_serializable() -> None:
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    assert all(f.description and f.group for f in FEATURES)
    spec = json.loads(json.dumps(spec_json(CONFIG, 4)))
    assert [f["name"] for f in spec["features"]] == [*FEATURE_NAMES, *(f.name for f in graph_features(4))]
    assert spec["config"]["label_delay_ms"] == CONFIG.label_delay_ms


def test_formulas_define_every_feature_exactly_once() -> None:
    # One definition per feature (a dict cannot hold two) and none missing or extra.
    assert sorted(formula_names()) == sorted(FEATURE_NAMES)


class ReadFields(dict):
    """A transaction that records which of its fields were read."""

    def __init__(self, fields: dict) -> None:
        super().__init__(fields)
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> object:
        self.read.add(name)
        return super().__getitem__(name)

    def get(self, name: str, default: object = None) -> object:
        self.read.add(name)
        return super().get(name, default)


def test_the_formulas_read_the_transaction_s_time_and_own_fields_only() -> None:
    txn = ReadFields(data.prepare(pd.DataFrame([_txn(0, 10.0)])).to_dict("records")[0])
    assemble_one(txn, dict.fromkeys(RAW_AGGREGATES, 0), CONFIG)
    assert txn.read == {EVENT_MS, *OWN_FIELDS}


def test_the_online_state_reads_the_input_fields_and_the_label_only() -> None:
    txn = ReadFields(_txn(0, 10.0) | {"zip": "91750", "card_token": "tok_" + "0" * 32})
    state = OnlineFeatureState(CONFIG)
    state.features(txn)
    state.update(txn)
    assert txn.read == {*INPUT_FIELDS, LABEL}
