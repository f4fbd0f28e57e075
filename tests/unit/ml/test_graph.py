"""GraphSAGE: numpy forward = torch forward, inductive pass = full pass, snapshots see only the past."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from fraudlake.ml import data
from fraudlake.ml.embed_numpy import GraphEmbedder, SageWeights, forward, head_scores
from fraudlake.ml.features import DAY_MS, FeatureConfig
from fraudlake.ml.graph import GnnConfig, HeteroSage, fit_gnn, graph_columns, tensors
from fraudlake.ml.graph_data import EDGE_TYPES, NODE_FEATURES, GraphConfig, new_node_features, snapshot

pytestmark = pytest.mark.unit
FEATURES = FeatureConfig(label_delay_ms=2 * DAY_MS)
GRAPH = GraphConfig(edge_window_ms=30 * DAY_MS, horizon_ms=7 * DAY_MS)


@pytest.fixture(scope="module")
def trained(small_frame: pd.DataFrame):
    graph, ids = graph_columns(data.columns(small_frame))
    t0 = int(graph.event_ms[0])
    cutoffs = np.array([t0 + d * DAY_MS for d in (40, 55, 70, 85)])
    weights, _ = fit_gnn(graph, cutoffs, FEATURES, GRAPH, GnnConfig(hidden=8, dim=4, epochs=3))
    return graph, ids, weights


def _torch_model(weights: SageWeights, x, edges) -> HeteroSage:
    model = HeteroSage(weights.layers[0][EDGE_TYPES[0]][1].shape[0], weights.dim)
    with torch.no_grad():
        model(x, edges)  # materialize lazy shapes, then load the exported numpy weights back
        for conv, layer in zip(model.convs, weights.layers, strict=True):
            for et, (w_l, b, w_r) in layer.items():
                conv.convs[et].lin_l.weight.copy_(torch.from_numpy(w_l))
                conv.convs[et].lin_l.bias.copy_(torch.from_numpy(b))
                conv.convs[et].lin_r.weight.copy_(torch.from_numpy(w_r))
        for kind, (w, c) in weights.heads.items():
            model.heads[kind].weight.copy_(torch.from_numpy(w[None]))
            model.heads[kind].bias.copy_(torch.from_numpy(np.array([c])))
    return model


def test_numpy_forward_matches_torch_within_1e5(trained) -> None:
    graph, _, weights = trained
    snap = snapshot(graph, int(graph.event_ms[-1]) + 1, FEATURES, GRAPH)
    x, edges = tensors(snap, weights.x_mean, weights.x_std)
    with torch.no_grad():
        emb_torch, logits_torch = _torch_model(weights, x, edges)(x, edges)
    _, _, emb_np = forward(weights, snap.x, snap.edges)
    logits_np = head_scores(weights, emb_np)
    for kind in emb_np:
        assert np.abs(emb_torch[kind].numpy() - emb_np[kind]).max() < 1e-5
        assert np.abs(logits_torch[kind].numpy() - logits_np[kind]).max() < 1e-5
    assert max(np.abs(v).max() for v in emb_np.values()) > 1e-3  # not trivially zero


def test_inductive_pass_equals_full_pass_for_a_node(trained) -> None:
    graph, ids, weights = trained
    snap = snapshot(graph, int(graph.event_ms[-1]) + 1, FEATURES, GRAPH)
    x, h1, h2 = forward(weights, snap.x, snap.edges)
    embedder = GraphEmbedder(weights, ids, x, h1, h2)
    visits, owner = snap.edges[("card", "visits", "merchant")], snap.edges[("card", "owned_by", "user")]
    for card in (0, 7, 42):
        neighbours = {
            "merchant": list(ids["merchant"][visits[1][visits[0] == card]]),
            "user": list(ids["user"][owner[1][owner[0] == card]]),
        }
        got = embedder.embed("card", snap.x["card"][card], neighbours)
        np.testing.assert_allclose(got, h2["card"][card], atol=1e-9)
    unseen = embedder.embed(
        "card", new_node_features("card"), {"merchant": [ids["merchant"][0], "never-seen"]}
    )
    assert unseen.shape == (weights.dim,)
    assert np.isfinite(unseen).all()


def test_weights_round_trip_through_arrays(trained) -> None:
    _, _, weights = trained
    back = SageWeights.from_arrays(weights.to_arrays())
    for a, b in zip(weights.to_arrays().values(), back.to_arrays().values(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_snapshot_sees_only_the_past(small_frame: pd.DataFrame) -> None:
    cols = data.columns(small_frame)
    cutoff = int(cols["event_ms"][len(small_frame) // 2])
    graph, _ = graph_columns(cols)
    before = snapshot(graph, cutoff, FEATURES, GRAPH)
    changed = cols | {
        "is_fraud": np.where(cols["event_ms"] > cutoff - FEATURES.label_delay_ms, True, cols["is_fraud"]),
        "amount": np.where(cols["event_ms"] >= cutoff, 9999.0, cols["amount"]),
    }
    suspected_later = (cols["event_ms"] >= cutoff).astype(float)  # suspicions have no delay
    after = snapshot(graph_columns(changed, suspected_later)[0], cutoff, FEATURES, GRAPH)
    for kind in before.x:
        np.testing.assert_array_equal(before.x[kind], after.x[kind])
    for et in before.edges:
        np.testing.assert_array_equal(before.edges[et], after.edges[et])


def test_node_features_do_not_grow_with_the_length_of_history(small_frame: pd.DataFrame) -> None:
    """The same behaviour a year earlier leaves every node's features as they were.

    Activity counted over all history would grow with the data set's age (see `graph_data`). The copy
    carries no fraud, so the confirmed-fraud counts (all known history, by design) stay equal; only
    the merchant's fraud rate, a ratio over all known history, moves (its denominator grows).
    """
    cols = data.columns(small_frame)
    cutoff = int(cols["event_ms"][-1]) + 1
    earlier = {k: np.asarray(v) for k, v in cols.items()}
    earlier["event_ms"] = earlier["event_ms"] - 400 * DAY_MS
    earlier["is_fraud"] = np.zeros_like(earlier["is_fraud"])
    longer = {k: np.concatenate([earlier[k], np.asarray(v)]) for k, v in cols.items()}
    before = snapshot(graph_columns(cols)[0], cutoff, FEATURES, GRAPH)
    after = snapshot(graph_columns(longer)[0], cutoff, FEATURES, GRAPH)
    for kind, names in NODE_FEATURES.items():
        for j, name in enumerate(names):
            if (kind, name) != ("merchant", "fraud_rate"):
                np.testing.assert_allclose(after.x[kind][:, j], before.x[kind][:, j], rtol=1e-6, err_msg=name)


def test_serving_modules_do_not_import_torch() -> None:
    # The API image has numpy and xgboost, not torch (scikit-learn is not checked: xgboost itself
    # imports it when installed, and our serving modules import it only inside training functions).
    code = (
        "import sys; import fraudlake.ml.artifact, fraudlake.ml.registry, fraudlake.ml.online, "
        "fraudlake.ml.embed_numpy; bad = [m for m in ('torch', 'torch_geometric') "
        "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
