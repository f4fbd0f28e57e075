"""GraphSAGE on neighbour-sampled mini-batches (PyG `NeighborLoader`): the out-of-core path's GNN.

`fraudlake.ml.graph.fit_gnn` runs every step on a whole snapshot: activations of every node and edge.
Here each step is a `NeighborLoader` batch: `batch_size` labelled seed nodes of one type and, per
layer, at most `num_neighbors` sampled in-neighbours per node and relation, so a step's tensors are
bounded by batch_size × the fan-outs, whatever the size of the graph. Model, snapshots, targets,
standardization and class balance are those of `fit_gnn` (`HeteroSage`, `training_snapshots`,
`class_weight`); the loss is on each batch's seed nodes.

What stays in memory: the training snapshots (node features, O(nodes), and the edges of the
30-day edge window, O(rows in that window): one edge per owned card and per visited card–merchant
pair). That is bounded by the data rate and the number of entities, not by the length of history.

The sampling itself is PyG's `NeighborSampler`, which calls the compiled `pyg-lib` or `torch-sparse`
kernels. Where neither is installed (no wheels for this torch), `TorchNeighborSampler` does the same
uniform sampling in plain torch (k draws, repeats dropped); with a kernel installed it defers to it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
import torch_geometric.typing as pyg_typing
from torch_geometric.data import HeteroData
from torch_geometric.loader import NeighborLoader
from torch_geometric.sampler import HeteroSamplerOutput, NeighborSampler

from fraudlake.ml.embed_numpy import SageWeights
from fraudlake.ml.features import FeatureConfig
from fraudlake.ml.graph import (
    GnnConfig,
    HeteroSage,
    Targets,
    class_weight,
    fit_gnn_on,
    gnn_summary,
    training_snapshots,
)
from fraudlake.ml.graph_data import NODE_TYPES, GraphColumns, GraphConfig, Snapshot


def hetero_data(
    snap: Snapshot, x_mean: Mapping[str, np.ndarray], x_std: Mapping[str, np.ndarray]
) -> HeteroData:
    """A snapshot as PyG `HeteroData`, node features standardized like `graph.tensors`."""
    data = HeteroData()
    for kind in NODE_TYPES:
        data[kind].x = torch.from_numpy(((snap.x[kind] - x_mean[kind]) / x_std[kind]).astype(np.float32))
    for et, e in snap.edges.items():
        data[et].edge_index = torch.from_numpy(e)
    return data


class TorchNeighborSampler(NeighborSampler):
    """`NeighborSampler` whose heterogeneous sampling runs in plain torch when PyG has no compiled
    sampler: each hop, for every relation, at most k in-neighbours per frontier node, drawn uniformly
    (all of them when the node has k or fewer; see `_pick`)."""

    def __init__(self, data: HeteroData, num_neighbors: list[int], seed: int):
        with warnings.catch_warnings():  # "without pyg-lib is deprecated": this class is the fallback
            warnings.simplefilter("ignore")
            super().__init__(data, num_neighbors)
        self.generator = torch.Generator().manual_seed(seed)

    def _sample(self, seed: Any, seed_time: Any = None, **kwargs: Any) -> Any:
        if pyg_typing.WITH_PYG_LIB or pyg_typing.WITH_TORCH_SPARSE or not isinstance(seed, dict):
            return super()._sample(seed, seed_time, **kwargs)
        fanouts = self.num_neighbors.get_mapped_values(self.edge_types)
        local = {k: torch.full((n,), -1, dtype=torch.long) for k, n in self.num_nodes.items()}
        nodes: dict[str, list[torch.Tensor]] = {k: [] for k in self.node_types}
        frontier: dict[str, torch.Tensor] = {}
        for kind in self.node_types:
            start = seed.get(kind, torch.zeros(0, dtype=torch.long)).long()
            local[kind][start] = torch.arange(len(start))
            nodes[kind].append(start)
            frontier[kind] = start
        size = {k: len(v[0]) for k, v in nodes.items()}
        rows: dict[Any, list[torch.Tensor]] = {et: [] for et in self.edge_types}
        cols: dict[Any, list[torch.Tensor]] = {et: [] for et in self.edge_types}
        edges: dict[Any, list[torch.Tensor]] = {et: [] for et in self.edge_types}
        for hop in range(self.num_neighbors.num_hops):
            found: dict[str, list[torch.Tensor]] = {k: [] for k in self.node_types}
            for et in self.edge_types:
                src, _, dst = et
                rel = self.to_rel_type[et]
                k = fanouts[rel][hop] if isinstance(fanouts, dict) else fanouts[hop]
                targets = frontier[dst]
                if len(targets) == 0 or k == 0:
                    continue
                pos, owner = self._pick(self.colptr_dict[rel], targets, int(k))
                sources = self.row_dict[rel][pos]
                new = torch.unique(sources[local[src][sources] < 0])
                local[src][new] = size[src] + torch.arange(len(new))
                size[src] += len(new)
                found[src].append(new)
                rows[et].append(local[src][sources])
                cols[et].append(local[dst][targets[owner]])
                edges[et].append(pos)
            frontier = {}
            for kind in self.node_types:
                frontier[kind] = torch.cat(found[kind]) if found[kind] else torch.zeros(0, dtype=torch.long)
                nodes[kind].append(frontier[kind])
        empty = torch.zeros(0, dtype=torch.long)
        return HeteroSamplerOutput(
            node={k: torch.cat(v) for k, v in nodes.items()},
            row={et: torch.cat(v) if v else empty for et, v in rows.items()},
            col={et: torch.cat(v) if v else empty for et, v in cols.items()},
            edge={et: torch.cat(v) if v else empty for et, v in edges.items()},
            batch=None,
        )

    def _pick(self, colptr: torch.Tensor, targets: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """CSC positions of the sampled in-edges of `targets`, and which target each belongs to.

        A target with at most k in-edges keeps them all; a larger one gets k uniform draws among its
        in-edges, repeats dropped (so k or a few fewer): the cost is O(k) per target, never its degree.
        """
        start, degree = colptr[targets], colptr[targets + 1] - colptr[targets]
        small = torch.ones_like(degree, dtype=torch.bool) if k < 0 else degree <= k
        few = torch.nonzero(small).flatten()
        owner = torch.repeat_interleave(few, degree[few])
        first = torch.cumsum(degree[few], 0) - degree[few]
        pos = start[owner] + torch.arange(len(owner)) - torch.repeat_interleave(first, degree[few])
        many = torch.nonzero(~small).flatten()
        if len(many) == 0:
            return pos, owner
        draws = torch.rand((len(many), k), generator=self.generator, dtype=torch.float64)
        picked = start[many, None] + (draws * degree[many, None]).long()
        unique, inverse = torch.unique(picked.flatten(), return_inverse=True)
        picked_owner = torch.empty_like(unique)
        picked_owner[inverse] = many.repeat_interleave(k)  # a CSC position belongs to one target
        return torch.cat([pos, unique]), torch.cat([owner, picked_owner])


def loader(data: HeteroData, kind: str, seeds: np.ndarray, gnn: GnnConfig, seed: int) -> NeighborLoader:
    """Shuffled mini-batches of `seeds` (nodes of `kind`) with their sampled neighbourhoods."""
    fanout = list(gnn.num_neighbors)
    return NeighborLoader(
        data,
        num_neighbors=fanout,
        input_nodes=(kind, torch.from_numpy(seeds)),
        batch_size=gnn.batch_size,
        shuffle=True,
        neighbor_sampler=TorchNeighborSampler(data, fanout, seed),
        generator=torch.Generator().manual_seed(seed),
    )


def fit_gnn_sampled(
    graph: GraphColumns,
    cutoffs: np.ndarray,
    features: FeatureConfig,
    config: GraphConfig,
    gnn: GnnConfig,
    progress: Callable[[int, int, float], None] | None = None,
) -> tuple[SageWeights, dict[str, Any]]:
    """`graph.fit_gnn` on `NeighborLoader` mini-batches: per epoch, per snapshot, per node type with
    both classes among its active nodes, a pass over those nodes in batches of `gnn.batch_size`."""
    return _fit_sampled(training_snapshots(graph, cutoffs, features, config), cutoffs, gnn, progress)


def fit_gnn_bounded(
    graph: GraphColumns,
    cutoffs: np.ndarray,
    features: FeatureConfig,
    config: GraphConfig,
    gnn: GnnConfig,
    progress: Callable[[int, int, float], None] | None = None,
) -> tuple[SageWeights, dict[str, Any]]:
    """The out-of-core path's GraphSAGE: whole-snapshot steps (`graph.fit_gnn`, the memory path's
    training) while the largest training snapshot has at most `gnn.whole_snapshot_max_edges` edges,
    `NeighborLoader` mini-batches beyond; the summary says which (`steps_on`)."""
    prepared = training_snapshots(graph, cutoffs, features, config)
    largest = max(sum(e.shape[1] for e in snap.edges.values()) for snap in prepared[0])
    if largest <= gnn.whole_snapshot_max_edges:
        sage, summary = fit_gnn_on(prepared, cutoffs, gnn, progress)
        steps_on = "whole snapshots"
    else:
        sage, summary = _fit_sampled(prepared, cutoffs, gnn, progress)
        steps_on = "NeighborLoader mini-batches"
    return sage, summary | {
        "steps_on": steps_on,
        "largest_snapshot_edges": largest,
        "whole_snapshot_max_edges": gnn.whole_snapshot_max_edges,
    }


def _fit_sampled(
    prepared: tuple[list[Snapshot], list[Targets], dict[str, np.ndarray], dict[str, np.ndarray]],
    cutoffs: np.ndarray,
    gnn: GnnConfig,
    progress: Callable[[int, int, float], None] | None,
) -> tuple[SageWeights, dict[str, Any]]:
    torch.manual_seed(gnn.seed)
    snaps, targets, x_mean, x_std = prepared
    model = HeteroSage(gnn.hidden, gnn.dim)
    plans = []  # (node type, loader, labels of the type's nodes, class weight) per snapshot and type
    usable = set()
    for i, (snap, target) in enumerate(zip(snaps, targets, strict=True)):
        data = hetero_data(snap, x_mean, x_std)
        for kind, (fraud, active) in target.items():
            weight = class_weight(fraud[active])
            if weight is not None:
                seeds = np.flatnonzero(active).astype(np.int64)
                y = torch.from_numpy(fraud.astype(np.float32))
                plans.append((kind, loader(data, kind, seeds, gnn, gnn.seed + i), y, weight))
                usable.add(i)
        if i == 0:
            with torch.no_grad():
                model(data.x_dict, data.edge_index_dict)  # materializes the lazy (-1, -1) input sizes
    optimizer = torch.optim.Adam(model.parameters(), lr=gnn.lr, weight_decay=gnn.weight_decay)
    total = gnn.epochs * sum(len(batches) for _, batches, _, _ in plans)
    steps, last_loss = 0, float("nan")
    for _ in range(gnn.epochs):
        for kind, batches, y, weight in plans:
            for batch in batches:
                optimizer.zero_grad()
                _, logits = model(batch.x_dict, batch.edge_index_dict)
                n = batch[kind].batch_size
                loss = torch.nn.functional.binary_cross_entropy_with_logits(
                    logits[kind][:n], y[batch[kind].n_id[:n]], pos_weight=weight
                )
                loss.backward()
                optimizer.step()
                steps += 1
                last_loss = float(loss.detach())
                if progress:
                    progress(steps, total, last_loss)
    summary = gnn_summary(cutoffs, targets, len(usable), steps, last_loss) | {
        "sampling": {"batch_size": gnn.batch_size, "num_neighbors": list(gnn.num_neighbors)}
    }
    return model.export(x_mean, x_std), summary
