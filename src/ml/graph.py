"""GraphSAGE on the user–card–merchant graph: trained in torch on past labels, exported as numpy.

Training objective (past labels only): at several cutoffs inside the GNN's own time period, the
snapshot as of the cutoff predicts which cards / merchants / users get fraud in the following
`horizon_ms`; every cutoff + horizon ends before the period's end minus the label delay, so the GNN
never sees a label the later periods (XGBoost training, validation, test) would own.

The layers are explicit `HeteroConv` of `SAGEConv((-1, -1), d)` (torch-geometric's `to_hetero`
fails on this torch). Scoring rows use `embed_numpy.forward`, the code path serving runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch_geometric.nn import HeteroConv, SAGEConv

from fraudlake.ml.aggregates import AGGREGATE_FEATURES, aggregate_columns, node_aggregates
from fraudlake.ml.batch_features import codes
from fraudlake.ml.embed_numpy import SageWeights, forward, head_scores
from fraudlake.ml.features import GRAPH_NODE_KINDS, FeatureConfig, graph_features
from fraudlake.ml.graph_data import (
    AGGREGATION,
    EDGE_TYPES,
    EXPOSURES,
    NODE_FEATURES,
    NODE_TYPES,
    GraphColumns,
    GraphConfig,
    HistoryTotals,
    Snapshot,
    card_exposures,
    future_targets,
    row_snapshots,
    snapshot,
)


@dataclass(frozen=True)
class GnnConfig:
    # Small and strongly regularized: node labels are few (one or two hundred defrauded cards in the
    # GNN's period). In a 1M-row generated world, hidden 16 / dim 8 ranked cards at ROC-AUC 0.82-0.89
    # on its own cutoffs and 0.64-0.76 three months later; this size 0.82 and 0.68-0.76.
    hidden: int = 8
    dim: int = 4
    epochs: int = 20
    lr: float = 0.01
    weight_decay: float = 1e-2
    max_train_snapshots: int = 30
    seed: int = 7
    # Neighbour sampling (`graph_sampling`, the out-of-core path): seed nodes per mini-batch and
    # sampled in-neighbours per node and relation in each layer.
    batch_size: int = 4096
    num_neighbors: tuple[int, int] = (10, 5)
    # The out-of-core path samples only when a training snapshot has more edges than this. A
    # snapshot grows with the bank (cards, merchants, 30 days of visits), not with history; up to
    # here a whole-snapshot step is cheaper than sampling it in pieces (a batch of 4,096 seeds with
    # fan-outs 10 and 5 touches about as many edges as a whole 5,000-card snapshot) and its tensors
    # stay within a few hundred MB.
    whole_snapshot_max_edges: int = 2_000_000


def graph_columns(
    cols: Mapping[str, np.ndarray], suspect: np.ndarray | None = None
) -> tuple[GraphColumns, dict[str, np.ndarray]]:
    """Integer-coded columns for snapshots, and each node type's ids in code order; `suspect` flags
    rows a model calls suspicious (none by default)."""
    coded, ids = {}, {}
    for kind in NODE_TYPES:
        values = np.asarray(cols[f"{kind}_id"])
        coded[kind] = codes(values)
        ids[kind] = np.empty(int(coded[kind].max(initial=-1)) + 1, dtype=object)
        ids[kind][coded[kind]] = values
    per_row = row_values(cols)
    graph = GraphColumns(
        event_ms=np.asarray(cols["event_ms"], dtype=np.int64),
        user=coded["user"],
        card=coded["card"],
        merchant=coded["merchant"],
        log_amount=per_row["log_amount"],
        online=per_row["online"],
        error=per_row["error"],
        fraud=per_row["fraud"],
        num_nodes={kind: len(ids[kind]) for kind in NODE_TYPES},
        suspect=None if suspect is None else np.asarray(suspect, dtype=np.float64),
    )
    return graph, ids


def row_values(cols: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The per-row floats snapshots read (`GraphColumns` log_amount, online, error, fraud), from
    columns or a prepared chunk."""
    errors = np.asarray(cols["errors"]).astype(str)
    return {
        "log_amount": np.log1p(np.abs(np.asarray(cols["amount"], dtype=np.float64))),
        "online": (np.asarray(cols["use_chip"]).astype(str) == "Online Transaction").astype(np.float64),
        "error": (errors != "").astype(np.float64),
        "fraud": np.asarray(cols["is_fraud"], dtype=np.float64),
    }


class HeteroSage(torch.nn.Module):
    """Two heterogeneous SAGE layers and a linear risk head per node type."""

    def __init__(self, hidden: int, dim: int):
        super().__init__()
        self.convs = torch.nn.ModuleList(
            HeteroConv({et: SAGEConv((-1, -1), size, aggr=AGGREGATION[et]) for et in EDGE_TYPES}, aggr="sum")
            for size in (hidden, dim)
        )
        self.heads = torch.nn.ModuleDict({kind: torch.nn.Linear(dim, 1) for kind in NODE_TYPES})

    def forward(
        self, x: dict[str, torch.Tensor], edges: dict[tuple[str, str, str], torch.Tensor]
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        h = {k: torch.relu(v) for k, v in self.convs[0](x, edges).items()}
        h = self.convs[1](h, edges)
        return h, {kind: self.heads[kind](v).squeeze(-1) for kind, v in h.items()}

    def export(self, x_mean: dict[str, np.ndarray], x_std: dict[str, np.ndarray]) -> SageWeights:
        """The trained weights as numpy for `embed_numpy`."""
        # ModuleList/ModuleDict type their items as Module: name the classes __init__ put there.
        layers = []
        for conv in self.convs:
            hetero: HeteroConv = conv
            layer = {}
            for et in EDGE_TYPES:
                sage = hetero.convs[et]
                layer[et] = (_np(sage.lin_l.weight), _np(sage.lin_l.bias), _np(sage.lin_r.weight))
            layers.append(layer)
        heads = {}
        for kind, head in self.heads.items():
            assert isinstance(head, torch.nn.Linear)
            heads[kind] = (_np(head.weight)[0], _np(head.bias)[0])
        return SageWeights(layers, heads, x_mean, x_std)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float32)


def tensors(
    snap: Snapshot, x_mean: Mapping[str, np.ndarray], x_std: Mapping[str, np.ndarray]
) -> tuple[dict[str, torch.Tensor], dict[tuple[str, str, str], torch.Tensor]]:
    x = {k: torch.from_numpy(((snap.x[k] - x_mean[k]) / x_std[k]).astype(np.float32)) for k in NODE_TYPES}
    return x, {et: torch.from_numpy(e) for et, e in snap.edges.items()}


def _standardization(snaps: list[Snapshot]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    mean, std = {}, {}
    for kind in NODE_TYPES:
        active = NODE_FEATURES[kind].index("log_txns_30d")
        seen = np.concatenate([s.x[kind][s.x[kind][:, active] > 0] for s in snaps])  # active in 30 days
        seen = seen if len(seen) else np.concatenate([s.x[kind] for s in snaps])
        mean[kind] = seen.mean(axis=0).astype(np.float32)
        std[kind] = np.maximum(seen.std(axis=0), 1e-3).astype(np.float32)
    return mean, std


def fit_gnn(
    graph: GraphColumns,
    cutoffs: np.ndarray,
    features: FeatureConfig,
    config: GraphConfig,
    gnn: GnnConfig,
    progress: Callable[[int, int, float], None] | None = None,
) -> tuple[SageWeights, dict[str, Any]]:
    """Train GraphSAGE on snapshots at `cutoffs`, each labelled by the fraud of the next horizon.

    Returns the weights and a summary (snapshots used, labelled nodes, final loss). Snapshots whose
    horizon holds no fraud teach nothing and are skipped; with none left the weights stay at their
    seeded initialization, which the summary says (`usable_snapshots` = 0).
    """
    return fit_gnn_on(training_snapshots(graph, cutoffs, features, config), cutoffs, gnn, progress)


def fit_gnn_on(
    prepared: tuple[list[Snapshot], list[Targets], dict[str, np.ndarray], dict[str, np.ndarray]],
    cutoffs: np.ndarray,
    gnn: GnnConfig,
    progress: Callable[[int, int, float], None] | None = None,
) -> tuple[SageWeights, dict[str, Any]]:
    """`fit_gnn` on snapshots already made (`training_snapshots`): one step per whole snapshot."""
    torch.manual_seed(gnn.seed)
    snaps, targets, x_mean, x_std = prepared
    batches = [tensors(s, x_mean, x_std) for s in snaps]
    model = HeteroSage(gnn.hidden, gnn.dim)
    with torch.no_grad():
        model(*batches[0])  # materializes the lazy (-1, -1) input sizes
    optimizer = torch.optim.Adam(model.parameters(), lr=gnn.lr, weight_decay=gnn.weight_decay)
    usable = [(b, terms) for b, t in zip(batches, targets, strict=True) if (terms := _loss_terms(t))]
    steps, total, last_loss = 0, gnn.epochs * len(usable), float("nan")
    for _ in range(gnn.epochs):
        for (x, edges), terms in usable:
            optimizer.zero_grad()
            _, logits = model(x, edges)
            # A tensor start keeps the sum a tensor for the type checker; 0 + x is x, so nothing changes.
            loss = sum((fn(logits[kind]) for kind, fn in terms.items()), torch.tensor(0.0))
            loss.backward()
            optimizer.step()
            steps += 1
            last_loss = float(loss.detach())
            if progress:
                progress(steps, total, last_loss)
    return model.export(x_mean, x_std), gnn_summary(cutoffs, targets, len(usable), steps, last_loss)


Targets = dict[str, tuple[np.ndarray, np.ndarray]]


def training_snapshots(
    graph: GraphColumns, cutoffs: np.ndarray, features: FeatureConfig, config: GraphConfig
) -> tuple[list[Snapshot], list[Targets], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The snapshots at `cutoffs`, their next-horizon targets and the feature standardization."""
    totals = HistoryTotals(graph)
    snaps = [snapshot(graph, int(c), features, config, totals) for c in cutoffs]
    targets = [future_targets(graph, int(c), config.horizon_ms) for c in cutoffs]
    x_mean, x_std = _standardization(snaps)
    return snaps, targets, x_mean, x_std


def gnn_summary(
    cutoffs: np.ndarray, targets: list[Targets], usable: int, steps: int, last_loss: float
) -> dict[str, Any]:
    """The model card's `gnn_training`."""
    positives = {kind: int(sum(t[kind][0][t[kind][1]].sum() for t in targets)) for kind in NODE_TYPES}
    return {
        "cutoffs": [int(c) for c in cutoffs],
        "usable_snapshots": usable,
        "steps": steps,
        "final_loss": last_loss if steps else None,
        "positive_nodes": positives,
    }


def _loss_terms(
    targets: dict[str, tuple[np.ndarray, np.ndarray]],
) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """Class-balanced BCE per node type over the nodes active in the horizon."""
    terms: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {}
    for kind, (fraud, active) in targets.items():
        idx = torch.from_numpy(np.flatnonzero(active))
        y = torch.from_numpy(fraud[active].astype(np.float32))
        weight = class_weight(fraud[active])
        if weight is None:
            continue

        def term(
            logits: torch.Tensor, idx: torch.Tensor = idx, y: torch.Tensor = y, w: torch.Tensor = weight
        ) -> torch.Tensor:
            return torch.nn.functional.binary_cross_entropy_with_logits(logits[idx], y, pos_weight=w)

        terms[kind] = term
    return terms


def class_weight(fraud: np.ndarray) -> torch.Tensor | None:
    """BCE's positive-class weight for these nodes' 0/1 targets (negatives per positive, at most 200);
    None when one class is missing and the nodes teach nothing."""
    positives = float(np.sum(fraud))
    if positives == 0 or positives == len(fraud):
        return None
    return torch.tensor(min((len(fraud) - positives) / positives, 200.0))


def row_graph_columns(
    graph: GraphColumns,
    rows: np.ndarray,
    cutoffs: np.ndarray,
    weights: SageWeights,
    features: FeatureConfig,
    config: GraphConfig,
    progress: Callable[[int, int], None] | None = None,
    totals: HistoryTotals | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The (c) graph columns (`features.graph_features`: risks, card exposures, then embeddings of
    card, merchant, user) and the (b+) aggregate columns (`aggregates.AGGREGATE_FEATURES`) of the
    given row indices, from one walk over the snapshots they read (the snapshot is most of the cost).

    Each row reads the latest snapshot at or before its event time, so nothing later than the row
    (and no label younger than the delay) reaches its graph features. `totals`: carried history
    sums when the caller walks later rows next (`graph_data.HistoryTotals`).
    """
    x_graph = np.zeros((len(rows), len(graph_features(weights.dim))), dtype=np.float32)
    x_aggregates = np.zeros((len(rows), len(AGGREGATE_FEATURES)), dtype=np.float32)
    for snap, mine in row_snapshots(graph, rows, cutoffs, features, config, totals, progress):
        nodes = graph.nodes_of(rows[mine])
        x_graph[mine] = snapshot_graph_features(weights, snap, nodes)
        x_aggregates[mine] = aggregate_columns(node_aggregates(snap), nodes)
    return x_graph, x_aggregates


def snapshot_graph_features(
    weights: SageWeights, snap: Snapshot, nodes: Mapping[str, np.ndarray]
) -> np.ndarray:
    """Graph columns, from one snapshot's GraphSAGE pass, of rows with these node codes per kind."""
    dim, n_kinds = weights.dim, len(GRAPH_NODE_KINDS)
    first_embedding = n_kinds + len(EXPOSURES)
    _, _, h2 = forward(weights, snap.x, snap.edges)
    risk = head_scores(weights, h2)
    out = np.zeros((len(nodes["card"]), first_embedding + n_kinds * dim), dtype=np.float32)
    out[:, n_kinds:first_embedding] = card_exposures(snap.x["card"][nodes["card"]])
    for j, kind in enumerate(GRAPH_NODE_KINDS):
        out[:, j] = risk[kind][nodes[kind]]
        col = first_embedding + j * dim
        out[:, col : col + dim] = h2[kind][nodes[kind]]
    return out
