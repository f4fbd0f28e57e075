"""Model (b+): cheap graph aggregates beside the tabular features, no learned graph model.

Each transaction reads its card's, merchant's and user's aggregates from the latest daily snapshot
at or before it (`graph_data.snapshot`), so the history rule is the snapshot's: transactions before
the cutoff, fraud labels only once `label_delay_ms` old, suspicions (a tabular model's flags) at once.
The columns are a merchant's confirmed fraud rate and its common-point-of-purchase counts, the card's
CPP exposures and its neighbourhood's fraud rate (the highest confirmed fraud rate among the merchants
it visited in the edge window), and known frauds of the card and the user.

Serving reads the same numbers from the last snapshot's table (`node_aggregates`), stored with the
model as float32 like the training columns; a node the snapshot lacks has no history: all zeros.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fraudlake.ml.features import GRAPH_NODE_KINDS, Feature, FeatureConfig
from fraudlake.ml.graph_data import (
    NODE_FEATURES,
    GraphColumns,
    GraphConfig,
    HistoryTotals,
    Snapshot,
    exposure,
    row_snapshots,
)

# Per node kind: (snapshot node feature or NEIGHBOURHOOD_RATE, description), in column order.
NEIGHBOURHOOD_RATE = "neighbourhood_fraud_rate"
_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "card": (
        ("log_known_frauds", "confirmed frauds on the card (log, labels older than the delay)"),
        ("cpp_exposure", "a merchant the card visited in 30 days shares confirmed frauds far above chance"),
        ("suspect_exposure", "a merchant the card visited in 30 days shares suspicious transactions"),
        (NEIGHBOURHOOD_RATE, "highest confirmed fraud rate among the merchants the card visited in 30 days"),
    ),
    "merchant": (
        ("fraud_rate", "confirmed fraud rate at the merchant, shrunk for little history"),
        ("log_cpp_fraud_cards", "cards defrauded after shopping at the merchant (common point of purchase)"),
        ("cpp_fraud_cards_z", "how far above chance the merchant's defrauded-card count is"),
        ("log_cpp_suspect_cards", "cards flagged suspicious after shopping at the merchant"),
        ("cpp_suspect_cards_z", "how far above chance the merchant's suspicious-card count is"),
    ),
    "user": (("log_known_frauds", "confirmed frauds of the user (log, labels older than the delay)"),),
}
AGGREGATE_FEATURES: tuple[Feature, ...] = tuple(
    Feature(f"agg_{kind}_{name}", description, "graph")
    for kind in GRAPH_NODE_KINDS
    for name, description in _COLUMNS[kind]
)


def node_aggregates(snap: Snapshot) -> dict[str, np.ndarray]:
    """Per node kind: (nodes × its aggregate columns) float32, in `AGGREGATE_FEATURES` order."""
    visits = snap.edges[("card", "visits", "merchant")]
    merchant_rate = snap.x["merchant"][:, NODE_FEATURES["merchant"].index("fraud_rate")].astype(np.float64)
    neighbourhood = exposure(visits[0], visits[1], merchant_rate, len(snap.x["card"]))
    out = {}
    for kind in GRAPH_NODE_KINDS:
        columns = [
            neighbourhood
            if name == NEIGHBOURHOOD_RATE
            else snap.x[kind][:, NODE_FEATURES[kind].index(name)].astype(np.float64)
            for name, _ in _COLUMNS[kind]
        ]
        out[kind] = np.column_stack(columns).astype(np.float32)
    return out


def unseen_node(kind: str) -> np.ndarray:
    """Aggregates of a node the snapshot lacks: no transactions, no frauds, no visits."""
    return np.zeros(len(_COLUMNS[kind]), dtype=np.float32)


def row_aggregates(
    graph: GraphColumns,
    rows: np.ndarray,
    cutoffs: np.ndarray,
    features: FeatureConfig,
    config: GraphConfig,
    progress: Callable[[int, int], None] | None = None,
    totals: HistoryTotals | None = None,
) -> np.ndarray:
    """`AGGREGATE_FEATURES` columns of the given row indices, each from its latest snapshot
    (`graph_data.row_snapshots`; `graph.row_graph_columns` makes them beside the (c) columns)."""
    out = np.zeros((len(rows), len(AGGREGATE_FEATURES)), dtype=np.float32)
    for snap, mine in row_snapshots(graph, rows, cutoffs, features, config, totals, progress):
        out[mine] = aggregate_columns(node_aggregates(snap), graph.nodes_of(rows[mine]))
    return out


def aggregate_columns(tables: dict[str, np.ndarray], nodes: dict[str, np.ndarray]) -> np.ndarray:
    """Rows' aggregate columns from per-kind tables and the rows' node indices per kind."""
    return np.hstack([tables[kind][nodes[kind]] for kind in GRAPH_NODE_KINDS])
