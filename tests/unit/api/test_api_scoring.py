"""The hot path computes what training computes: same features, same model inputs, sound reasons,
the seeds' rules, and a history that counts each transaction once."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xgboost
from api_kit import AUTH, registry_with, wait_for_model
from fastapi.testclient import TestClient
from model_kit import frame_records

from fraudlake.api.feed import decode_transaction
from fraudlake.ml import data
from fraudlake.ml.artifact import FraudModel
from fraudlake.ml.batch_features import batch_features
from fraudlake.ml.evaluate import seed_rule
from fraudlake.pipeline.spec import SEED_RULES
from fraudlake.scoring.bundle import ModelBundle
from fraudlake.scoring.state import ServingState

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def bundle(model_files: dict[str, bytes]) -> ModelBundle:
    return ModelBundle.load(FraudModel(model_files), "memory")


def test_api_scores_equal_the_training_feature_path(make_app, model_files, frame: pd.DataFrame) -> None:
    """Score 600 transactions through a fresh app; recompute them with the batch (training) feature
    code over the same 600 rows plus the model's graph columns: identical probabilities."""
    part = frame.iloc[-600:].reset_index(drop=True)
    app = make_app(registry_with(model_files))
    with TestClient(app) as client:
        wait_for_model(app)
        body = {"transactions": frame_records(part), "reasons": "none"}
        api = client.post("/v1/score/batch", json=body, headers=AUTH).json()["results"]
    model = FraudModel(model_files)
    tabular = batch_features(data.columns(part), model.feature_config)
    graph = np.stack([model.graph_features(c, m, u) for c, m, u in
                      zip(part["card_id"], part["merchant_id"], part["user_id"], strict=True)])  # fmt: skip
    expected = model.score(np.hstack([tabular, graph]).astype(np.float32))
    np.testing.assert_allclose([r["score"] for r in api], expected, rtol=1e-6)
    assert [r["decision"] for r in api] == list(model.decide(expected))


@pytest.mark.parametrize("exact", [False, True])
@pytest.mark.parametrize("rows", [1, 40])  # the numpy walk and XGBoost's predict
def test_reasons_partition_the_contributions(bundle: ModelBundle, rows: int, exact: bool) -> None:
    x = np.random.default_rng(rows).normal(size=(rows, bundle.feature_count)).astype(np.float32) * 20
    grouped = bundle.evaluate(x, "all", exact_reasons=exact).contributions
    full = bundle.model.booster.predict(
        xgboost.DMatrix(x), pred_contribs=True, approx_contribs=not exact, validate_features=False
    )
    np.testing.assert_allclose(grouped.sum(axis=1), full[:, :-1].sum(axis=1), rtol=1e-4, atol=1e-4)
    names = bundle.reasons.names
    assert "graph_card_embedding" in names
    assert not any(n.startswith("graph_card_") and n[-1].isdigit() for n in names)
    assert len(names) == len(set(names))


@pytest.mark.parametrize("rows", [1, 3, 16, 17, 200])
def test_both_evaluation_paths_equal_the_models_own_score(
    bundle: ModelBundle, frame: pd.DataFrame, rows
) -> None:
    model = bundle.model
    part = frame.iloc[-rows:].reset_index(drop=True)
    tabular = batch_features(data.columns(part), model.feature_config)
    graph = np.stack([model.graph_features(c, m, u) for c, m, u in
                      zip(part["card_id"], part["merchant_id"], part["user_id"], strict=True)])  # fmt: skip
    x = np.hstack([tabular, graph]).astype(np.float32)
    evaluation = bundle.evaluate(x, "flagged")
    np.testing.assert_array_equal(evaluation.probabilities, model.score(x))  # bit for bit
    assert list(evaluation.decisions) == list(model.decide(model.score(x)))
    assert list(evaluation.explained) == [i for i, d in enumerate(evaluation.decisions) if d != "approve"]


def test_reasons_are_named_in_the_feature_specs_words(
    client: TestClient, transactions: list[dict[str, Any]], model_files: dict[str, bytes]
) -> None:
    spec = {f["name"]: f["description"] for f in json.loads(model_files["feature_spec.json"])["features"]}
    reasons = client.post("/v1/score", json=transactions[900], headers=AUTH).json()["reasons"]
    for reason in reasons:
        if reason["feature"].endswith("_embedding"):
            assert reason["description"].startswith("graph embedding of the")
            assert reason["value"] is None
        else:
            assert reason["description"] == spec[reason["feature"]]


def test_spend_burst_rule_agrees_with_the_seed_rule_baseline(frame: pd.DataFrame, model_files) -> None:
    """The API's spend_burst_10m over a stream equals `evaluate.seed_rule` on the training features."""
    part = frame.iloc[:4000]
    config = FraudModel(model_files).feature_config
    state = ServingState(config, SEED_RULES)
    fired = []
    for rec in frame_records(part):
        rec = rec | {"event_ms": int(pd.Timestamp(rec["event_ts"]).value // 1_000_000)}
        _, hits = state.score_inputs(rec)
        fired.append(any(h.rule == "spend_burst_10m" for h in hits))
    expected = seed_rule(batch_features(data.columns(part), config)).astype(bool)
    assert expected.sum() > 20  # the rule is exercised
    np.testing.assert_array_equal(fired, expected)


def test_velocity_rule_fires_from_the_eleventh_transaction_in_five_minutes(
    client: TestClient, transactions: list[dict[str, Any]]
) -> None:
    base = transactions[1000] | {"card_id": "velocity-card", "user_id": "velocity-user", "amount": 1.0}
    fired_at = []
    for i in range(13):
        txn = base | {"txn_id": f"{i:032x}", "event_ts": f"2018-06-01T10:00:{i * 4:02d}Z"}
        rules = client.post("/v1/score", json=txn, headers=AUTH).json()["rules_fired"]
        if any(r["rule"] == "velocity_5m" for r in rules):
            fired_at.append(i + 1)
    assert fired_at == [11, 12, 13]
    later = base | {"txn_id": "f" * 32, "event_ts": "2018-06-01T10:06:00Z"}  # 5-minute window moved on
    rules = client.post("/v1/score", json=later, headers=AUTH).json()["rules_fired"]
    assert [r["rule"] for r in rules] == ["spend_burst_10m"]


def test_a_transaction_enters_the_history_once(model_files) -> None:
    state = ServingState(FraudModel(model_files).feature_config, SEED_RULES)
    txn = {"txn_id": "a" * 32, "event_ms": 1_500_000_000_000, "user_id": "u", "card_id": "c",
           "merchant_id": "m", "amount": 10.0, "use_chip": "Chip Transaction", "mcc": 5411,
           "merchant_state": "CA", "errors": None}  # fmt: skip
    state.score_inputs(txn)
    assert not state.observe(txn | {"event_ts": txn["event_ms"]})  # the same id from Kafka later
    x, _ = state.score_inputs(txn | {"txn_id": "b" * 32, "event_ms": txn["event_ms"] + 60_000})
    names = list(__import__("fraudlake.ml.features", fromlist=["x"]).FEATURE_NAMES)
    assert x[0, names.index("card_count_10m")] == 1


@pytest.mark.parametrize(
    ("raw", "ok"),
    [
        (b'{"schema": {}, "payload": {"event_ts": 1, "card_id": "c", "user_id": "u", "merchant_id": "m", '
         b'"amount": 1.5, "mcc": 5411, "use_chip": "Chip Transaction"}}', True),
        (b'{"event_ts": 1, "card_id": "c", "user_id": "u", "merchant_id": "m", "amount": 1.5, "mcc": 5411, '
         b'"use_chip": "Chip Transaction"}', True),
        (b'{"event_ts": 1, "card_id": "c"}', False),
        (b"not json", False),
        (b"[1, 2]", False),
    ],
)  # fmt: skip
def test_topic_messages_are_decoded_or_skipped(raw: bytes, ok: bool) -> None:
    assert (decode_transaction(raw) is not None) == ok


def test_a_batch_of_inputs_equals_the_inputs_one_by_one(frame: pd.DataFrame, model_files) -> None:
    """`score_inputs_many` (features assembled as columns, the stream scorer's batches) gives the rows
    and rule hits `score_inputs` gives one at a time, bit for bit, a repeated id joining the history once."""
    config = FraudModel(model_files).feature_config
    records = [
        rec | {"event_ms": int(pd.Timestamp(rec["event_ts"]).value // 1_000_000)}
        for rec in frame_records(frame.iloc[:3000])
    ]
    records.insert(1500, records[1400])  # seen again: scored, not counted twice
    one_by_one, batched = ServingState(config, SEED_RULES), ServingState(config, SEED_RULES)
    rows, hits = zip(*(one_by_one.score_inputs(r) for r in records), strict=True)
    x, batch_hits = [], []
    for start in range(0, len(records), 700):
        part_x, part_hits = batched.score_inputs_many(records[start : start + 700])
        x.append(part_x)
        batch_hits += part_hits
    np.testing.assert_array_equal(np.vstack(x), np.vstack(rows))  # NaN where NaN
    assert batch_hits == list(hits)
    assert sum(bool(h) for h in hits) > 20  # the rules are exercised


def test_a_card_the_bank_stopped_is_declined_with_its_status(make_app, model_files, transactions) -> None:
    """The API's own card status book (filled by its CDC feed in a deployment) decides like the scorer's."""
    app = make_app(registry_with(model_files))
    body = transactions[0]
    with TestClient(app) as client:
        wait_for_model(app)
        before = client.post("/v1/score", json=body, headers=AUTH).json()
        app.state.services.card_status.apply(
            {
                "op": "u",
                "after": {"card_id": body["card_id"], "status": "blocked", "blocked_reason": "lost"},
                "source": {"lsn": 1},
            }
        )
        later = body | {"txn_id": "after-the-block"}
        after = client.post("/v1/score", json=later, headers=AUTH).json()
        batch = client.post("/v1/score/batch", json={"transactions": [later]}, headers=AUTH).json()
    assert "card_status" not in [hit["rule"] for hit in before["rules_fired"]]
    assert after["decision"] == "decline"
    assert after["rules_fired"][-1] == {
        "rule": "card_status",
        "type": "CardStatus",
        "message": "card blocked (lost)",
    }
    assert batch["results"][0]["decision"] == "decline"
    assert batch["decisions"]["decline"] == 1
