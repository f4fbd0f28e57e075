"""Model-free checks of whether the data carries a signal before a model is asked to learn it.

Common point of purchase (CPP): fraud analysts look for the merchant that a group of defrauded
cards all visited shortly before their fraud, then watch the other cards that shopped there. Here
a transaction's *CPP exposure* is the largest z-score of such defrauded cards over chance
(`graph_data.cpp_cards`) among the merchants its card visited in the graph's edge window, as
known at the transaction's snapshot (labels at least `label_delay_ms` old: exactly what
`graph_data.snapshot` gives the GNN as a merchant feature).
The *oracle* variant counts every fraud in the data, future ones included: it measures how strong
the generator made the mechanism, not what a model could know.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from fraudlake.ml.features import FeatureConfig
from fraudlake.ml.graph_data import (
    GraphColumns,
    GraphConfig,
    cpp_cards,
    edge_visits,
    exposure,
    row_snapshot_index,
    snapshot_times,
)

_FOREVER_MS = 10**15


def cpp_exposure(
    graph: GraphColumns, rows: np.ndarray, features: FeatureConfig, config: GraphConfig, oracle: bool = False
) -> np.ndarray:
    """Per row: max CPP z-score of confirmed frauds over the merchants its card visited in the edge
    window (the card's `cpp_exposure` node feature, or its oracle variant)."""
    t = graph.event_ms
    cutoffs = snapshot_times(int(t[rows].min()), int(t[rows].max()), config.snapshot_every_ms)
    which = row_snapshot_index(t[rows], cutoffs)
    out = np.zeros(len(rows))
    for k in np.unique(which):
        cutoff = int(cutoffs[k])
        if oracle:
            _, score = cpp_cards(graph, _FOREVER_MS, 0, replace(config, cpp_recent_ms=_FOREVER_MS))
        else:
            _, score = cpp_cards(graph, cutoff, features.label_delay_ms, config)
        card_max = exposure(*edge_visits(graph, cutoff, config), score, graph.num_nodes["card"])
        mine = np.flatnonzero(which == k)
        out[mine] = card_max[graph.card[rows[mine]]]
    return out


def cpp_signal(
    graph: GraphColumns,
    rows: np.ndarray,
    features: FeatureConfig,
    config: GraphConfig,
    thresholds: tuple[float, ...] = (3.0, 5.0, 8.0),
    oracle: bool = False,
) -> dict[str, Any]:
    """Share of fraud and of legitimate rows whose CPP z-score reaches each threshold, and the lift."""
    exposure = cpp_exposure(graph, rows, features, config, oracle)
    fraud = graph.fraud[rows] > 0
    out: dict[str, Any] = {"rows": len(rows), "frauds": int(fraud.sum()), "oracle": oracle}
    for k in thresholds:
        hit = exposure >= k
        fraud_share = float(hit[fraud].mean()) if fraud.any() else float("nan")
        legit_share = float(hit[~fraud].mean()) if (~fraud).any() else float("nan")
        out[f"z>={k:g}"] = {
            "fraud_share": round(fraud_share, 4),
            "legit_share": round(legit_share, 5),
            "lift": round(fraud_share / legit_share, 2) if legit_share > 0 else None,
        }
    return out
