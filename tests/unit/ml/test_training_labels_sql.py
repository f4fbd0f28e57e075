"""Training's labels from the field: the query's precedence (analyst, chargeback, the row's own),
which labels count as known, the counts by source and the model card's section.
(tests/integration/test_training_labels.py runs the query on ClickHouse.)"""

from __future__ import annotations

import pandas as pd
import pytest

from fraudlake.ml import report
from fraudlake.ml.data import COLUMNS, label_sources, transactions_sql

pytestmark = pytest.mark.unit


def test_the_label_from_the_field_comes_first_analysts_before_chargebacks() -> None:
    query = transactions_sql("fraud", "event_ts >= {start:DateTime64(3, 'UTC')}", labels_before_end=True)
    assert "if(l.label_source != '', l.label = 1, t.own_label = 1) AS is_fraud" in query
    assert "argMax(label, (source = 'analyst', known_at)) AS label" in query
    assert "AND known_at < {end:DateTime64(3, 'UTC')}" in query  # a rerun sees the same labels
    assert "FROM fraud.transactions FINAL WHERE event_ts >= {start:DateTime64(3, 'UTC')}" in query
    for column in COLUMNS:
        assert f" AS {column}" in query
    assert "known_at <" not in transactions_sql("fraud", "1")  # no end: every label known now


def test_without_a_labels_table_every_label_is_the_rows_own() -> None:
    query = transactions_sql("fraud", "1", labels=False)
    assert "labels" not in query.replace("'' AS label_source", "")
    assert "t.is_fraud AS is_fraud" in query


def test_counts_by_source() -> None:
    frame = pd.DataFrame({"label_source": ["analyst", "", "chargeback", "analyst", ""]})
    assert label_sources(frame) == {"analyst": 2, "chargeback": 1, "transaction": 2}
    assert label_sources(pd.DataFrame({"txn_id": ["a", "b"]})) == {
        "analyst": 0,
        "chargeback": 0,
        "transaction": 2,
    }


def test_the_model_card_reports_labels_from_analysts() -> None:
    text = report._labels({"analyst": 1234, "chargeback": 56, "transaction": 7})
    assert "Labels from analysts: 1,234 transactions" in text
    assert "56 from a chargeback" in text
    assert report._labels(None) == ""  # a model trained before labels were counted: no section
