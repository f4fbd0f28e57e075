"""Snapshots in time order carry their history sums: equal, bit for bit, to summing all history anew."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraudlake.ml import data
from fraudlake.ml.features import DAY_MS, FeatureConfig
from fraudlake.ml.graph import graph_columns
from fraudlake.ml.graph_data import NODE_TYPES, SHARES, GraphConfig, HistoryTotals, snapshot, snapshot_times

pytestmark = pytest.mark.unit
FEATURES, GRAPH = FeatureConfig(label_delay_ms=2 * DAY_MS), GraphConfig()


@pytest.fixture(scope="module")
def graph(small_frame: pd.DataFrame):
    cols = data.columns(small_frame)
    suspect = (np.random.default_rng(3).random(len(small_frame)) < 0.01).astype(float)
    return graph_columns(cols, suspect)[0]


def test_carried_totals_equal_bincount_over_all_history(graph) -> None:
    t = graph.event_ms
    totals = HistoryTotals(graph)
    for end in np.linspace(0, len(t), 9).astype(int)[1:]:
        known_end = end * 3 // 4
        totals.advance(int(end), int(known_end))
        for kind in NODE_TYPES:
            codes, n = getattr(graph, kind), graph.num_nodes[kind]
            count = np.bincount(codes[:end], minlength=n).astype(np.float64)
            np.testing.assert_array_equal(totals.txns[kind], count)
            amount = np.bincount(codes[:end], weights=graph.log_amount[:end], minlength=n)
            np.testing.assert_array_equal(totals.log_amount[kind], amount)  # same additions, same order
            for flag in SHARES[kind]:
                flags = np.bincount(codes[:end], weights=getattr(graph, flag)[:end], minlength=n)
                np.testing.assert_array_equal(totals.flags[kind, flag], flags)
            frauds = np.bincount(codes[:known_end], weights=graph.fraud[:known_end], minlength=n)
            np.testing.assert_array_equal(totals.frauds[kind], frauds)
        last = np.full(graph.num_nodes["card"], -1, dtype=np.int64)
        np.maximum.at(last, graph.card[:end], t[:end])
        np.testing.assert_array_equal(totals.last_card_ms, last)
        owned = np.unique(graph.card[:end].astype(np.int64) * graph.num_nodes["user"] + graph.user[:end])
        np.testing.assert_array_equal(totals.owned, owned)


def test_a_series_of_daily_snapshots_equals_each_one_made_alone(graph) -> None:
    t = graph.event_ms
    grid = snapshot_times(int(t[len(t) // 3]), int(t[-1]), DAY_MS)[::5]
    totals = HistoryTotals(graph)
    # In time order, then one step back in time (the totals start again from the first row).
    for cutoff in [*grid, int(grid[len(grid) // 2])]:
        carried = snapshot(graph, int(cutoff), FEATURES, GRAPH, totals)
        alone = snapshot(graph, int(cutoff), FEATURES, GRAPH)
        for kind in NODE_TYPES:
            np.testing.assert_array_equal(carried.x[kind], alone.x[kind])
        for edge_type, edges in alone.edges.items():
            np.testing.assert_array_equal(carried.edges[edge_type], edges)
