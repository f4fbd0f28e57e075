"""A small end-to-end training run, its artifact, the champion gate and the serving model."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from fraudlake.ml.artifact import MODEL_FILES, ArtifactError, FraudModel, manifest, read_dir, write_dir
from fraudlake.ml.features import DAY_MS, FEATURE_NAMES, FeatureConfig, graph_features
from fraudlake.ml.graph import GnnConfig
from fraudlake.ml.graph_data import GraphConfig
from fraudlake.ml.registry import LocalStore, MemoryStore, ModelRegistry, ModelStoreSettings
from fraudlake.ml.report import artifact_files
from fraudlake.ml.train import SplitConfig, TrainConfig, XgbConfig, split_bounds, suspicion_flags, train

pytestmark = pytest.mark.unit
FAST = TrainConfig(
    features=FeatureConfig(label_delay_ms=2 * DAY_MS),
    graph=GraphConfig(edge_window_ms=30 * DAY_MS, horizon_ms=7 * DAY_MS),
    gnn=GnnConfig(hidden=8, dim=4, epochs=3, max_train_snapshots=3),
    split=SplitConfig(gnn=0.4, fit=0.3, valid=0.15),
    xgb=XgbConfig(rounds=30, early_stopping=10),
    bootstrap=20,
)


@pytest.fixture(scope="module")
def files(small_frame: pd.DataFrame) -> dict[str, bytes]:
    return artifact_files(train(small_frame, FAST), "unit-test frame")


def test_split_bounds_follow_time_and_keep_ties_together() -> None:
    event_ms = np.array([0, 1, 1, 1, 2, 3, 3, 4, 5, 6])
    bounds = split_bounds(event_ms, SplitConfig(gnn=0.2, fit=0.3, valid=0.2))
    assert bounds == {"gnn": (0, 1), "fit": (1, 5), "valid": (5, 7), "test": (7, 10)}
    explicit = split_bounds(
        np.array([0, DAY_MS, 2 * DAY_MS, 3 * DAY_MS]) + 1_500_000_000_000,
        SplitConfig(starts=("2017-07-15", "2017-07-16", "2017-07-17")),
    )
    assert [hi - lo for lo, hi in explicit.values()] == [1, 1, 1, 1]


def test_training_writes_every_artifact_file(files: dict[str, bytes], tmp_path) -> None:
    assert set(files) == {*MODEL_FILES, "manifest.json"}
    metrics = json.loads(files["metrics.json"])
    assert set(metrics["test"]) == {"a_rule", "b_xgb_tabular", "b_plus_xgb_aggregates", "c_xgb_graph"}
    assert metrics["served_model"] == metrics["gate"]["served"] in metrics["test"]
    assert metrics["gate"]["reason"].encode() in files["model_card.md"]
    assert metrics["periods"]["test"]["frauds"] > 0
    assert metrics["gnn_training"]["usable_snapshots"] > 0
    assert files["pr_curves.png"].startswith(b"\x89PNG")
    assert b"## Limits" in files["model_card.md"]
    # The toy world's frauds stand out by amount only: at precision 0.5 the suspicion model flags none,
    # and the card says what that leaves the graph.
    assert metrics["suspicion_model"]["flagged_rows"] == 0
    assert b"The suspicion model flagged nothing" in files["model_card.md"]
    write_dir(files, tmp_path / "v")
    assert read_dir(tmp_path / "v") == files


def test_served_model_scores_from_online_features_and_graph(files: dict[str, bytes], small_frame) -> None:
    model = FraudModel(files)
    state = model.new_feature_state()
    rows = small_frame.to_dict("records")
    for txn in rows[:-1]:
        state.update(txn)
    last = rows[-1]
    served = model.graph_features(last["card_id"], last["merchant_id"], last["user_id"])
    x = np.hstack([state.features(last)[0], served])[None, :]
    assert x.shape[1] == len(model.feature_names)
    assert model.feature_names[: len(FEATURE_NAMES)] == list(FEATURE_NAMES)
    p = model.score(x)
    assert 0 <= p[0] <= 1
    assert model.decide(p)[0] in {"approve", "review", "decline"}
    contributions = model.contributions(x)
    assert contributions.shape == (1, x.shape[1] + 1)


def test_graphsage_columns_of_known_and_new_nodes(files: dict[str, bytes], small_frame) -> None:
    model = FraudModel(files)
    last = small_frame.iloc[-1]
    graph = model.graphsage_features(last["card_id"], last["merchant_id"], last["user_id"])
    unseen = model.graphsage_features("new-card", "new-merchant", last["user_id"])
    assert np.isfinite(unseen).all()
    assert not np.array_equal(unseen, graph)
    # Columns: three risks, the card's two CPP exposures, then card, merchant and user embeddings. The new
    # card is embedded as a node linked by this transaction to its merchant and user, and has visited no
    # merchant (exposures 0); the known user keeps its stored embedding.
    dim = model.embedder.weights.dim
    at = {f.name: i for i, f in enumerate(graph_features(dim))}
    links = {"merchant": ["new-merchant"], "user": [last["user_id"]]}
    new_card = model.embedder.embed("card", model._new_node["card"], links)
    card, user = at["graph_card_0"], at["graph_user_0"]
    np.testing.assert_array_equal(unseen[card : card + dim], new_card.astype(np.float32))
    np.testing.assert_array_equal(unseen[user:], graph[user:])
    exposures = [at["graph_card_cpp_exposure"], at["graph_card_suspect_exposure"]]
    assert unseen[exposures].tolist() == [0.0, 0.0]
    stored = model.embedder.index["card"][str(last["card_id"])]
    np.testing.assert_array_equal(graph[exposures], model._card_exposure[stored])


def _with_auc_pr(files: dict[str, bytes], version: str, auc_pr: float | None) -> dict[str, bytes]:
    body = {k: v for k, v in files.items() if k != "manifest.json"}
    return body | {"manifest.json": manifest(version, body, {"test_auc_pr": auc_pr})}


@pytest.mark.parametrize("store_kind", ["memory", "local"])
def test_champion_moves_only_for_a_higher_test_auc_pr(
    files: dict[str, bytes], store_kind: str, tmp_path
) -> None:
    store = MemoryStore() if store_kind == "memory" else LocalStore(tmp_path)
    registry = ModelRegistry(store)
    assert registry.load_champion() is None
    assert registry.publish(_with_auc_pr(files, "v1", 0.50)).promoted
    assert not registry.publish(_with_auc_pr(files, "v2", 0.40)).promoted
    assert not registry.publish(_with_auc_pr(files, "v3", 0.50)).promoted  # a tie does not beat
    assert not registry.publish(_with_auc_pr(files, "v4", None)).promoted
    assert registry.champion()["version"] == "v1"
    outcome = registry.publish(_with_auc_pr(files, "v5", 0.61))
    assert outcome.promoted
    assert outcome.previous_champion["version"] == "v1"
    assert registry.versions() == ["v1", "v2", "v3", "v4", "v5"]
    assert registry.load_champion().version == "v5"


def test_incomplete_or_altered_versions_are_rejected(files: dict[str, bytes]) -> None:
    store = MemoryStore()
    registry = ModelRegistry(store)
    registry.upload(_with_auc_pr(files, "v1", 0.5))
    store.objects["models/v1/xgboost.json"] = b"{}"
    with pytest.raises(ArtifactError, match="sha256"):
        registry.load("v1")
    partial = {k: v for k, v in _with_auc_pr(files, "v2", 0.9).items() if k != "manifest.json"}
    for name, data in partial.items():
        store.put(f"models/v2/{name}", data)
    assert "v2" not in registry.versions()
    with pytest.raises(ArtifactError, match="no complete"):
        registry.promote("v2")


def test_training_refuses_data_without_fraud_to_evaluate(small_frame: pd.DataFrame) -> None:
    from fraudlake.ml.data import TrainingDataError

    clean = small_frame.assign(is_fraud=False)
    with pytest.raises(TrainingDataError, match="no fraud"):
        train(clean, replace(FAST, bootstrap=5))


def test_suspicion_flags_use_only_labels_known_when_the_fit_period_starts(small_frame: pd.DataFrame) -> None:
    from fraudlake.ml.batch_features import batch_features, codes
    from fraudlake.ml.data import columns

    cols = columns(small_frame)
    x = batch_features(cols, FAST.features).astype(np.float32)
    y, t, cards = cols["is_fraud"].astype(int), cols["event_ms"], codes(cols["card_id"])
    gnn_end = split_bounds(t, FAST.split)["fit"][0]
    # The toy world's frauds stand out only by their amounts: a loose precision target makes the
    # model flag rows, so a label it should not read would show.
    loose = replace(FAST, suspicion_precision=0.02)
    flags, summary = suspicion_flags(x, y, cards, t, gnn_end, loose)
    assert summary["trained"]
    assert summary["flagged_rows"] == int(flags.sum()) > 0
    assert set(np.unique(flags)) <= {0.0, 1.0}
    # Labels younger than the delay at the fit period's start, and every later label, are not read.
    unknown = t > t[gnn_end] - FAST.features.label_delay_ms
    flipped, _ = suspicion_flags(x, np.where(unknown, 1 - y, y), cards, t, gnn_end, loose)
    np.testing.assert_array_equal(flipped, flags)
    # With no fraud to learn from, nothing is flagged (and the summary says why).
    none, why = suspicion_flags(x, np.zeros_like(y), cards, t, gnn_end, loose)
    assert not none.any()
    assert not why["trained"]


def test_served_graph_columns_are_the_training_columns_at_the_last_snapshot(
    files: dict[str, bytes], small_frame: pd.DataFrame
) -> None:
    """Serving reads known nodes from the last training snapshot: the same columns, in the same order,
    as training computes for a transaction scored at that snapshot."""
    from fraudlake.ml.data import columns
    from fraudlake.ml.graph import graph_columns, row_graph_columns

    model = FraudModel(files)
    cols = columns(small_frame)
    cutoff = int(cols["event_ms"][-1]) + 1  # training's final snapshot
    probe = np.arange(len(small_frame) - 25, len(small_frame))  # known cards, merchants and users
    extended = {k: np.concatenate([np.asarray(v), np.asarray(v)[probe]]) for k, v in cols.items()}
    extended["event_ms"][len(small_frame) :] = cutoff  # the probes are scored at that snapshot
    graph, _ = graph_columns(extended)  # FAST's suspicion model flags nothing (see above)
    rows = np.arange(len(small_frame), len(small_frame) + len(probe))
    trained, _ = row_graph_columns(
        graph, rows, np.array([cutoff]), model.embedder.weights, FAST.features, FAST.graph
    )
    served = np.stack(
        [
            model.graphsage_features(c, m, u)
            for c, m, u in zip(*(cols[k][probe] for k in ("card_id", "merchant_id", "user_id")), strict=True)
        ]
    )
    np.testing.assert_allclose(served, trained, rtol=1e-5, atol=1e-6)
    cpp = [f.name for f in graph_features(model.embedder.weights.dim)].index("graph_card_cpp_exposure")
    assert (trained[:, cpp] != 0).any()  # the toy world's breaches show: the column is not all zeros


def test_a_version_without_a_working_review_threshold_is_never_promoted(files: dict[str, bytes]) -> None:
    decision = json.loads(files["decision.json"])
    assert decision["thresholds"]["review"]["value"] is not None  # training always sets one
    off = {"value": None, "precision": None, "recall": 0.0, "reachable": False, "basis": "precision"}
    decision["thresholds"]["review"] = off
    approves_all = _with_auc_pr(files | {"decision.json": json.dumps(decision).encode()}, "v-off", 0.99)
    registry = ModelRegistry(MemoryStore())
    outcome = registry.publish(approves_all)
    assert not outcome.promoted
    assert "no working review threshold" in outcome.reason
    assert registry.champion() is None
    assert registry.publish(_with_auc_pr(files, "v-on", 0.10)).promoted


def test_served_aggregates_are_the_training_columns_at_the_last_snapshot(
    files: dict[str, bytes], small_frame: pd.DataFrame
) -> None:
    """(b+) serving reads known nodes' aggregates from the last training snapshot, as training would
    compute them for a transaction at that snapshot; unknown nodes have none."""
    from fraudlake.ml.aggregates import AGGREGATE_FEATURES, row_aggregates
    from fraudlake.ml.data import columns
    from fraudlake.ml.graph import graph_columns

    model = FraudModel(files)
    cols = columns(small_frame)
    cutoff = int(cols["event_ms"][-1]) + 1
    probe = np.arange(len(small_frame) - 25, len(small_frame))
    extended = {k: np.concatenate([np.asarray(v), np.asarray(v)[probe]]) for k, v in cols.items()}
    extended["event_ms"][len(small_frame) :] = cutoff
    graph, _ = graph_columns(extended)
    rows = np.arange(len(small_frame), len(small_frame) + len(probe))
    trained = row_aggregates(graph, rows, np.array([cutoff]), FAST.features, FAST.graph)
    ids = zip(*(cols[k][probe] for k in ("card_id", "merchant_id", "user_id")), strict=True)
    served = np.stack([model.graph_aggregates(c, m, u) for c, m, u in ids])
    np.testing.assert_array_equal(served, trained)
    assert (trained != 0).any()
    unseen = model.graph_aggregates("new-card", "new-merchant", "new-user")
    assert unseen.shape == (len(AGGREGATE_FEATURES),)
    assert not unseen.any()


def test_the_store_region_follows_the_pods_aws_region_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FRAUDLAKE_S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    assert ModelStoreSettings().s3_region == "us-east-1"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    assert ModelStoreSettings().s3_region == "eu-central-1"
    monkeypatch.setenv("AWS_REGION", "eu-west-1")  # what EKS sets with an IAM role for the pod
    assert ModelStoreSettings().s3_region == "eu-west-1"
    monkeypatch.setenv("FRAUDLAKE_S3_REGION", "ap-south-1")
    assert ModelStoreSettings().s3_region == "ap-south-1"
    assert ModelStoreSettings(s3_region="us-west-2").s3_region == "us-west-2"
