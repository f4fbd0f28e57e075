"""GraphSAGE in numpy: the serving side of `fraudlake.ml.graph` (no torch here: the API imports this).

The model is two heterogeneous SAGE layers (PyG `HeteroConv` of `SAGEConv((-1, -1), d)`, pooling
per relation as in `graph_data.AGGREGATION` (mean, or max for merchants → card), sum over edge
types, ReLU between layers) and a linear risk head per node type:

    h¹[v] = relu( Σ_{edge types r into v's type} W_l^r · pool_r{x[u] : u ∈ N_r(v)} + b^r + W_r^r · x[v] )
    h²[v] =       Σ_r                            W_l^r · pool_r{h¹[u] : u ∈ N_r(v)} + b^r + W_r^r · h¹[v]
    score[v] = w_type · h²[v] + c_type

`forward` runs it over a whole snapshot; `GraphEmbedder.embed` runs it for one node from its
neighbours' stored states, which is how a card or merchant the model never saw gets an embedding.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from fraudlake.ml.graph_data import AGGREGATION, EDGE_TYPES, NODE_TYPES, EdgeType

Linear = tuple[np.ndarray, np.ndarray, np.ndarray]  # W_l (out × in_src), b (out), W_r (out × in_dst)


def _key(edge_type: EdgeType) -> str:
    return "__".join(edge_type)


@dataclass
class SageWeights:
    """Layer weights, heads and input standardization: everything the forward pass needs."""

    layers: list[dict[EdgeType, Linear]]
    heads: dict[str, tuple[np.ndarray, np.ndarray]]  # node type → (w (dim), c scalar)
    x_mean: dict[str, np.ndarray]
    x_std: dict[str, np.ndarray]

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Flat name → array mapping for `np.savez`."""
        out: dict[str, np.ndarray] = {}
        for i, layer in enumerate(self.layers):
            for et, (w_l, b, w_r) in layer.items():
                out[f"conv{i}/{_key(et)}/lin_l_weight"], out[f"conv{i}/{_key(et)}/lin_l_bias"] = w_l, b
                out[f"conv{i}/{_key(et)}/lin_r_weight"] = w_r
        for kind, (w, c) in self.heads.items():
            out[f"head/{kind}/weight"], out[f"head/{kind}/bias"] = w, c
        for kind in self.x_mean:
            out[f"x_mean/{kind}"], out[f"x_std/{kind}"] = self.x_mean[kind], self.x_std[kind]
        return out

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> SageWeights:
        n_layers = 1 + max(int(k.split("/")[0][4:]) for k in arrays if k.startswith("conv"))
        layers = [
            {
                et: (
                    arrays[f"conv{i}/{_key(et)}/lin_l_weight"],
                    arrays[f"conv{i}/{_key(et)}/lin_l_bias"],
                    arrays[f"conv{i}/{_key(et)}/lin_r_weight"],
                )
                for et in EDGE_TYPES
            }
            for i in range(n_layers)
        ]
        heads = {k: (arrays[f"head/{k}/weight"], arrays[f"head/{k}/bias"]) for k in NODE_TYPES}
        return cls(
            layers,
            heads,
            {k: arrays[f"x_mean/{k}"] for k in NODE_TYPES},
            {k: arrays[f"x_std/{k}"] for k in NODE_TYPES},
        )

    @property
    def dim(self) -> int:
        return int(next(iter(self.layers[-1].values()))[1].shape[0])

    def standardize(self, kind: str, x_raw: np.ndarray) -> np.ndarray:
        return (np.asarray(x_raw, dtype=np.float64) - self.x_mean[kind]) / self.x_std[kind]


def _pool(h_src: np.ndarray, edges: np.ndarray, n_dst: int, how: str) -> np.ndarray:
    """Mean or max of neighbour states per destination node; 0 without neighbours (as in PyG)."""
    src, dst = edges[0], edges[1]
    out = np.zeros((n_dst, h_src.shape[1]))
    if len(dst) == 0:
        return out
    if how == "mean":
        degree = np.bincount(dst, minlength=n_dst).astype(np.float64)
        for j in range(h_src.shape[1]):
            out[:, j] = np.bincount(dst, weights=h_src[src, j], minlength=n_dst)
        return out / np.maximum(degree, 1.0)[:, None]
    order = np.argsort(dst, kind="stable")
    dst_sorted = dst[order]
    starts = np.flatnonzero(np.r_[True, dst_sorted[1:] != dst_sorted[:-1]])
    out[dst_sorted[starts]] = np.maximum.reduceat(h_src[src[order]], starts, axis=0)
    return out


def _pool_rows(states: np.ndarray, how: str) -> np.ndarray:
    return states.mean(axis=0) if how == "mean" else states.max(axis=0)


def _layer(
    layer: dict[EdgeType, Linear], h: dict[str, np.ndarray], edges: Mapping[EdgeType, np.ndarray]
) -> dict[str, np.ndarray]:
    out = {kind: np.zeros((len(h[kind]), layer[EDGE_TYPES[0]][1].shape[0])) for kind in NODE_TYPES}
    for et, (w_l, b, w_r) in layer.items():
        src, _, dst = et
        out[dst] += _pool(h[src], edges[et], len(h[dst]), AGGREGATION[et]) @ w_l.T + b + h[dst] @ w_r.T
    return out


def forward(
    weights: SageWeights, x_raw: Mapping[str, np.ndarray], edges: Mapping[EdgeType, np.ndarray]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(standardized inputs, layer-1 states, final embeddings) for every node of a snapshot."""
    x = {kind: weights.standardize(kind, x_raw[kind]) for kind in NODE_TYPES}
    h = x
    states = []
    for i, layer in enumerate(weights.layers):
        h = _layer(layer, h, edges)
        if i < len(weights.layers) - 1:
            h = {kind: np.maximum(v, 0.0) for kind, v in h.items()}
        states.append(h)
    return x, states[0], states[-1]


def head_scores(weights: SageWeights, embeddings: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Risk logit per node from its final embedding."""
    return {kind: _risk(weights, kind, h) for kind, h in embeddings.items()}


def _risk(weights: SageWeights, kind: str, embedding: np.ndarray) -> np.ndarray:
    """The risk head: embeddings (one or rows of them) → logit."""
    w, c = weights.heads[kind]
    return np.asarray(embedding @ w + c)


class GraphEmbedder:
    """Stored states of the last training snapshot plus the inductive pass for nodes not in it.

    `ids[kind]` names the rows of `x`, `h1`, `h2` (standardized inputs, layer-1 states, embeddings).
    """

    def __init__(
        self,
        weights: SageWeights,
        ids: Mapping[str, np.ndarray],
        x: Mapping[str, np.ndarray],
        h1: Mapping[str, np.ndarray],
        h2: Mapping[str, np.ndarray],
    ):
        if len(weights.layers) != 2:
            raise ValueError("the inductive pass is written for two layers")
        self.weights, self.x, self.h1, self.h2 = weights, dict(x), dict(h1), dict(h2)
        self.index = {kind: {str(v): i for i, v in enumerate(ids[kind])} for kind in NODE_TYPES}
        # Stored nodes' risks as training computes them (all rows at once), as Python floats.
        self.risk = {kind: scores.tolist() for kind, scores in head_scores(weights, self.h2).items()}

    def lookup(self, kind: str, node_id: str) -> tuple[float, np.ndarray] | None:
        """(risk, embedding) of a node the snapshot has, None for one it did not have."""
        row = self.index[kind].get(str(node_id))
        return None if row is None else (self.risk[kind][row], self.h2[kind][row])

    def embed(self, kind: str, x_raw: np.ndarray, neighbours: Mapping[str, list[str]]) -> np.ndarray:
        """Embedding of one node from its raw features and its neighbours' ids (by node type).

        Neighbours unknown to the snapshot are skipped; with none left the node is embedded from its
        own features alone, as a new node in the full forward pass would be.
        """
        neighbours = {
            src: list(dict.fromkeys(map(str, ids))) for src, ids in neighbours.items()
        }  # edges are sets
        x_self = self.weights.standardize(kind, x_raw)
        h1_self = self._one(0, kind, x_self, neighbours, self.x)
        return self._one(1, kind, np.maximum(h1_self, 0.0), neighbours, self.h1)

    def score(self, kind: str, embedding: np.ndarray) -> float:
        return float(_risk(self.weights, kind, embedding))

    def _one(
        self,
        layer: int,
        kind: str,
        h_self: np.ndarray,
        neighbours: Mapping[str, list[str]],
        table: Mapping[str, np.ndarray],
    ) -> np.ndarray:
        out = np.zeros(self.weights.layers[layer][EDGE_TYPES[0]][1].shape[0])
        for et, (w_l, b, w_r) in self.weights.layers[layer].items():
            src, _, dst = et
            if dst != kind:
                continue
            rows = [self.index[src][n] for n in neighbours.get(src, []) if n in self.index[src]]
            pooled = _pool_rows(table[src][rows], AGGREGATION[et]) if rows else np.zeros(w_l.shape[1])
            out += pooled @ w_l.T + b + h_self @ w_r.T
        return out
