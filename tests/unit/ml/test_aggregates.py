"""(b+) graph aggregates read only labels known at their snapshot (the label-delay rule)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraudlake.ml.aggregates import AGGREGATE_FEATURES, node_aggregates, row_aggregates
from fraudlake.ml.data import columns
from fraudlake.ml.features import DAY_MS, FeatureConfig
from fraudlake.ml.graph import graph_columns
from fraudlake.ml.graph_data import GraphConfig, snapshot, snapshot_times

pytestmark = pytest.mark.unit
FEATURES = FeatureConfig(label_delay_ms=3 * DAY_MS)
GRAPH = GraphConfig()


def _graph(frame: pd.DataFrame, labels: np.ndarray):
    cols = columns(frame)
    cols["is_fraud"] = labels
    return cols, graph_columns(cols)[0]


def test_a_label_younger_than_the_delay_never_reaches_the_aggregates(small_frame: pd.DataFrame) -> None:
    cols, graph = _graph(small_frame, columns(small_frame)["is_fraud"])
    t = cols["event_ms"]
    cutoff = int(t[len(t) * 2 // 3])
    before = node_aggregates(snapshot(graph, cutoff, FEATURES, GRAPH))
    # Flip every label not yet known at the cutoff (younger than the delay, or after the cutoff).
    unknown = t > cutoff - FEATURES.label_delay_ms
    flipped_labels = np.where(unknown, ~cols["is_fraud"], cols["is_fraud"])
    _, flipped = _graph(small_frame, flipped_labels)
    after = node_aggregates(snapshot(flipped, cutoff, FEATURES, GRAPH))
    for kind in before:
        np.testing.assert_array_equal(after[kind], before[kind])
    # Negative control: a label old enough to be known does move them.
    known = np.where(~unknown, ~cols["is_fraud"], cols["is_fraud"])
    _, moved = _graph(small_frame, known)
    changed = node_aggregates(snapshot(moved, cutoff, FEATURES, GRAPH))
    assert any(not np.array_equal(changed[k], before[k]) for k in before)


def test_rows_read_the_latest_snapshot_before_them(small_frame: pd.DataFrame) -> None:
    cols, graph = _graph(small_frame, columns(small_frame)["is_fraud"])
    t = cols["event_ms"]
    rows = np.arange(len(t) // 2, len(t))
    grid = snapshot_times(int(t[rows[0]]), int(t[-1]), GRAPH.snapshot_every_ms)
    x = row_aggregates(graph, rows, grid, FEATURES, GRAPH)
    assert x.shape == (len(rows), len(AGGREGATE_FEATURES))
    # Labels of the rows themselves and of everything after them are never read: flipping all labels
    # younger than the delay before each row's own snapshot leaves its columns as they were.
    k = np.searchsorted(grid, t[rows], "right") - 1
    earliest_unknown = grid[k].min() - FEATURES.label_delay_ms
    _, flipped = _graph(small_frame, np.where(t > earliest_unknown, ~cols["is_fraud"], cols["is_fraud"]))
    first_day = rows[k == k.min()]
    x_flipped = row_aggregates(flipped, first_day, grid, FEATURES, GRAPH)
    np.testing.assert_array_equal(x_flipped, x[: len(first_day)])
