"""Features where the data lives: chunks read from ClickHouse (chDB, a week of event time per query)
give the in-memory path's features bit for bit, and out-of-core training runs on them."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from fraudlake.clickhouse.client import connect
from fraudlake.local.stack.service import ServiceRecord
from fraudlake.ml import data
from fraudlake.ml.batch_features import batch_features
from fraudlake.ml.chunked_features import chunked_features, clickhouse_chunks
from fraudlake.ml.features import FeatureConfig

pytestmark = pytest.mark.integration
CONFIG = FeatureConfig(label_delay_ms=2 * 86_400_000)
DDL = """CREATE TABLE fraud_chunks.transactions (
    txn_id String, event_ts DateTime64(3, 'UTC'), user_id String, card_id String, merchant_id String,
    amount Float64, use_chip LowCardinality(String), merchant_state LowCardinality(Nullable(String)),
    mcc UInt16, errors Nullable(String), is_fraud Bool, ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = ReplacingMergeTree(ingested_at) ORDER BY (card_id, event_ts, txn_id)"""


def _make_frame():
    # the model tests' toy world (tests/unit/ml/conftest.py), which is not a package to import from
    path = Path(__file__).parents[1] / "unit" / "ml" / "conftest.py"
    spec = importlib.util.spec_from_file_location("ml_test_frames", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_frame()


def test_weekly_clickhouse_chunks_give_the_in_memory_features(clickhouse: ServiceRecord) -> None:
    frame = _make_frame()
    # The session's engine: chDB allows one engine per process, and the suite's stack already owns it.
    dsn = clickhouse.endpoints["dsn"]
    client = connect(dsn)
    try:
        client.command("DROP DATABASE IF EXISTS fraud_chunks")
        client.command("CREATE DATABASE fraud_chunks")
        client.command(DDL)
        rows = frame[list(data.COLUMNS)]
        client.insert_df("fraud_chunks.transactions", rows.iloc[::-1])  # arrival order is not time order
        client.insert_df("fraud_chunks.transactions", rows.iloc[:500])  # a replay: FINAL collapses it
    finally:
        client.close()
    start, end = datetime(2015, 12, 1, tzinfo=UTC), datetime(2016, 6, 1, tzinfo=UTC)
    chunks = list(clickhouse_chunks(dsn, "fraud_chunks", start, end, days=7))
    assert len(chunks) > 10
    assert sum(len(c) for c in chunks) == len(frame)
    chunked = np.vstack(list(chunked_features(iter(chunks), CONFIG)))
    np.testing.assert_array_equal(chunked, batch_features(data.columns(frame), CONFIG))
