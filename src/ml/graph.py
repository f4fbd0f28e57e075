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

from fraudlake.ml.batch_features import codes
from fraudlake.ml.embed_numpy import SageWeights, forward, mean_risks
from fraudlake.ml.features import GRAPH_NODE_KINDS, FeatureConfig
from fraudlake.ml.graph_data import (
    AGGREGATION,
    EDGE_TYPES,
    NODE_TYPES,
    GraphColumns,
    GraphConfig,
    Snapshot,
    future_targets,
    row_snapshot_index,
    snapshot,
)


@dataclass(frozen=True)
class GnnConfig:
    hidden: int = 16
    dim: int = 8  # 16 gave XGBoost more noise than signal on the validation split
    epochs: int = 12
    lr: float = 0.01
    weight_decay: float = 1e-4
    max_train_snapshots: int = 6
    # One member per seed, trained alike; their risk scores are averaged. One seed's GraphSAGE is a
    # noisy feature: on the validation split, (c) - (b) AUC-PR was -0.010..+0.020 across single seeds,
    # +0.010 for every 3-seed ensemble of risks tried.
    seeds: tuple[int, ...] = (7, 17, 29)
    # Also give XGBoost the first member's embeddings (not only the risks). Off: on the validation
    # split they added seed noise, not signal (3-seed mean (c) - (b): +0.007 with, +0.010 without).
    embedding_columns: bool = False

    @property
    def model_dim(self) -> int:
        """Embedding components per node among the model's input columns."""
        return self.dim if self.embedding_columns else 0


def graph_columns(cols: Mapping[str, np.ndarray]) -> tuple[GraphColumns, dict[str, np.ndarray]]:
    """Integer-coded columns for snapshots, and each node type's ids in code order."""
    coded, ids = {}, {}
    for kind in NODE_TYPES:
        values = np.asarray(cols[f"{kind}_id"])
        coded[kind] = codes(values)
        ids[kind] = np.empty(int(coded[kind].max(initial=-1)) + 1, dtype=object)
        ids[kind][coded[kind]] = values
    errors = np.asarray(cols["errors"]).astype(str)
    graph = GraphColumns(
        event_ms=np.asarray(cols["event_ms"], dtype=np.int64),
        user=coded["user"],
        card=coded["card"],
        merchant=coded["merchant"],
        log_amount=np.log1p(np.abs(np.asarray(cols["amount"], dtype=np.float64))),
        online=(np.asarray(cols["use_chip"]).astype(str) == "Online Transaction").astype(np.float64),
        error=(errors != "").astype(np.float64),
        fraud=np.asarray(cols["is_fraud"], dtype=np.float64),
        num_nodes={kind: len(ids[kind]) for kind in NODE_TYPES},
    )
    return graph, ids


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
        seen = np.concatenate([s.x[kind][s.x[kind][:, 0] > 0] for s in snaps])  # nodes with history
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
) -> tuple[list[SageWeights], dict[str, Any]]:
    """Train one GraphSAGE per seed of `gnn.seeds` on snapshots at `cutoffs`, each labelled by the
    fraud of the next horizon.

    Returns the members' weights and a summary (snapshots used, labelled nodes, final loss per
    member). Snapshots whose horizon holds no fraud teach nothing and are skipped; with none left the
    weights stay at their seeded initialization, which the summary says (`usable_snapshots` = 0).
    """
    snaps = [snapshot(graph, int(c), features, config) for c in cutoffs]
    targets = [future_targets(graph, int(c), config.horizon_ms) for c in cutoffs]
    x_mean, x_std = _standardization(snaps)
    batches = [tensors(s, x_mean, x_std) for s in snaps]
    usable = [(b, terms) for b, t in zip(batches, targets, strict=True) if (terms := _loss_terms(t))]
    total = len(gnn.seeds) * gnn.epochs * len(usable)
    members, losses = [], []
    for i, seed in enumerate(gnn.seeds):
        step = _shifted(progress, i * gnn.epochs * len(usable), total)
        model, loss = _fit_member(batches[0], usable, gnn, seed, step)
        members.append(model.export(x_mean, x_std))
        losses.append(loss)
    positives = {kind: int(sum(t[kind][0][t[kind][1]].sum() for t in targets)) for kind in NODE_TYPES}
    summary = {
        "cutoffs": [int(c) for c in cutoffs],
        "usable_snapshots": len(usable),
        "steps": total,
        "seeds": list(gnn.seeds),
        "final_loss": losses if usable else None,
        "positive_nodes": positives,
    }
    return members, summary


def _shifted(
    progress: Callable[[int, int, float], None] | None, done: int, total: int
) -> Callable[[int, float], None] | None:
    """A member's step callback reporting into the whole ensemble's step count."""
    if progress is None:
        return None
    return lambda k, loss: progress(done + k, total, loss)


Batch = tuple[dict[str, torch.Tensor], dict[tuple[str, str, str], torch.Tensor]]


def _fit_member(
    first: Batch,
    usable: list[tuple[Batch, dict[str, Callable[[torch.Tensor], torch.Tensor]]]],
    gnn: GnnConfig,
    seed: int,
    progress: Callable[[int, float], None] | None,
) -> tuple[HeteroSage, float]:
    """One seeded GraphSAGE trained for `gnn.epochs` over the usable snapshots; (model, last loss)."""
    torch.manual_seed(seed)
    model = HeteroSage(gnn.hidden, gnn.dim)
    with torch.no_grad():
        model(*first)  # materializes the lazy (-1, -1) input sizes
    optimizer = torch.optim.Adam(model.parameters(), lr=gnn.lr, weight_decay=gnn.weight_decay)
    steps, last_loss = 0, float("nan")
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
                progress(steps, last_loss)
    return model, last_loss


def _loss_terms(
    targets: dict[str, tuple[np.ndarray, np.ndarray]],
) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """Class-balanced BCE per node type over the nodes active in the horizon."""
    terms: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {}
    for kind, (fraud, active) in targets.items():
        idx = torch.from_numpy(np.flatnonzero(active))
        y = torch.from_numpy(fraud[active].astype(np.float32))
        positives = float(y.sum())
        if positives == 0 or positives == len(y):
            continue
        weight = torch.tensor(min((len(y) - positives) / positives, 200.0))

        def term(
            logits: torch.Tensor, idx: torch.Tensor = idx, y: torch.Tensor = y, w: torch.Tensor = weight
        ) -> torch.Tensor:
            return torch.nn.functional.binary_cross_entropy_with_logits(logits[idx], y, pos_weight=w)

        terms[kind] = term
    return terms


def row_graph_features(
    graph: GraphColumns,
    rows: np.ndarray,
    cutoffs: np.ndarray,
    members: list[SageWeights],
    features: FeatureConfig,
    config: GraphConfig,
    model_dim: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Graph columns for the given row indices: the ensemble's mean risk of card, merchant, user, then
    (`model_dim` > 0) the first member's embeddings of each, `model_dim` components.

    Each row reads the latest snapshot at or before its event time, so nothing later than the row
    (and no label younger than the delay) reaches its graph features.
    """
    kinds = len(GRAPH_NODE_KINDS)
    out = np.zeros((len(rows), kinds * (model_dim + 1)), dtype=np.float32)
    which = row_snapshot_index(graph.event_ms[rows], cutoffs)
    uniq = np.unique(which)
    for step, k in enumerate(uniq):
        snap = snapshot(graph, int(cutoffs[k]), features, config)
        risk = mean_risks(members, snap.x, snap.edges)
        h2 = forward(members[0], snap.x, snap.edges)[2] if model_dim else {}
        mine = np.flatnonzero(which == k)
        nodes = {kind: getattr(graph, kind)[rows[mine]] for kind in GRAPH_NODE_KINDS}
        for j, kind in enumerate(GRAPH_NODE_KINDS):
            out[mine, j] = risk[kind][nodes[kind]]
            if model_dim:
                col = kinds + j * model_dim
                out[mine, col : col + model_dim] = h2[kind][nodes[kind], :model_dim]
        if progress:
            progress(step + 1, len(uniq))
    return out
