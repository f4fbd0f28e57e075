"""GraphSAGE on NeighborLoader mini-batches: the sampler draws real edges within the fan-out, and the
sampled training learns weights the numpy serving path can run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from fraudlake.ml.data import columns
from fraudlake.ml.embed_numpy import forward
from fraudlake.ml.features import DAY_MS, FeatureConfig
from fraudlake.ml.graph import GnnConfig, fit_gnn, graph_columns
from fraudlake.ml.graph_data import EDGE_TYPES, GraphConfig, snapshot
from fraudlake.ml.graph_sampling import fit_gnn_bounded, fit_gnn_sampled, hetero_data, loader

pytestmark = pytest.mark.unit
FEATURES = FeatureConfig(label_delay_ms=2 * DAY_MS)
GRAPH = GraphConfig(horizon_ms=7 * DAY_MS)


def test_batches_hold_seed_nodes_first_and_only_real_edges_within_the_fanout(
    small_frame: pd.DataFrame,
) -> None:
    graph, _ = graph_columns(columns(small_frame))
    snap = snapshot(graph, int(graph.event_ms[len(graph.event_ms) // 2]), FEATURES, GRAPH)
    ones = {k: np.zeros(v.shape[1], np.float32) for k, v in snap.x.items()}
    data = hetero_data(snap, ones, {k: v + 1 for k, v in ones.items()})
    fanout = (3, 2)
    seeds = np.arange(0, graph.num_nodes["merchant"], 2, dtype=np.int64)
    gnn = GnnConfig(batch_size=16, num_neighbors=fanout)
    real = {et: {(int(s), int(d)) for s, d in snap.edges[et].T} for et in EDGE_TYPES}
    seen = []
    for batch in loader(data, "merchant", seeds, gnn, seed=3):
        n = batch["merchant"].batch_size
        seen.append(batch["merchant"].n_id[:n])
        for et in EDGE_TYPES:
            src, _, dst = et
            index = batch[et].edge_index
            ids = batch[src].n_id[index[0]], batch[dst].n_id[index[1]]
            assert {(int(s), int(d)) for s, d in zip(*ids, strict=True)} <= real[et]
            # Each node's in-edges of one relation come from one hop: at most the larger fan-out.
            if index.shape[1]:
                assert int(torch.bincount(index[1]).max()) <= max(fanout)
        assert torch.equal(batch["merchant"].x[:n], data["merchant"].x[batch["merchant"].n_id[:n]])
    assert sorted(torch.cat(seen).tolist()) == seeds.tolist()  # every seed once per pass


def test_sampled_training_gives_weights_the_serving_path_runs(small_frame: pd.DataFrame) -> None:
    graph, _ = graph_columns(columns(small_frame))
    t0 = int(graph.event_ms[0])
    cutoffs = np.array([t0 + 40 * DAY_MS, t0 + 55 * DAY_MS, t0 + 70 * DAY_MS])
    gnn = GnnConfig(hidden=8, dim=4, epochs=2, batch_size=64)
    weights, summary = fit_gnn_sampled(graph, cutoffs, FEATURES, GRAPH, gnn)
    assert summary["usable_snapshots"] > 0
    assert summary["steps"] > summary["usable_snapshots"] * gnn.epochs  # several batches a snapshot
    assert summary["sampling"] == {"batch_size": 64, "num_neighbors": [10, 5]}
    snap = snapshot(graph, int(cutoffs[-1]), FEATURES, GRAPH)
    _, _, h2 = forward(weights, snap.x, snap.edges)
    assert all(np.isfinite(v).all() and v.shape[1] == gnn.dim for v in h2.values())


def test_small_snapshots_train_whole_and_large_ones_by_sampling(small_frame: pd.DataFrame) -> None:
    """Below the edge budget the out-of-core GNN is the memory path's, weight for weight; above it,
    the sampled one."""
    graph, _ = graph_columns(columns(small_frame))
    t0 = int(graph.event_ms[0])
    cutoffs = np.array([t0 + 40 * DAY_MS, t0 + 55 * DAY_MS, t0 + 70 * DAY_MS])
    gnn = GnnConfig(hidden=8, dim=4, epochs=2, batch_size=64)
    whole, summary = fit_gnn_bounded(graph, cutoffs, FEATURES, GRAPH, gnn)
    assert summary["steps_on"] == "whole snapshots"
    assert 0 < summary["largest_snapshot_edges"] <= gnn.whole_snapshot_max_edges
    memory, _ = fit_gnn(graph, cutoffs, FEATURES, GRAPH, gnn)
    for key, value in memory.to_arrays().items():
        np.testing.assert_array_equal(whole.to_arrays()[key], value)
    tight = GnnConfig(hidden=8, dim=4, epochs=2, batch_size=64, whole_snapshot_max_edges=10)
    _, summary = fit_gnn_bounded(graph, cutoffs, FEATURES, GRAPH, tight)
    assert summary["steps_on"] == "NeighborLoader mini-batches"
    assert summary["steps"] > summary["usable_snapshots"] * tight.epochs
