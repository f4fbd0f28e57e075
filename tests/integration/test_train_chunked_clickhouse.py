"""Features where the data lives: chunks read from ClickHouse (chDB, a week of event time per query)
give the in-memory path's features bit for bit, and the DAG's out-of-core training runs on them and
uploads its version."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from fraudlake.clickhouse.client import connect
from fraudlake.local.stack.service import ServiceRecord
from fraudlake.ml import data
from fraudlake.ml.artifact import FraudModel, read_dir
from fraudlake.ml.batch_features import batch_features
from fraudlake.ml.chunked_features import chunked_features, clickhouse_chunks
from fraudlake.ml.features import FeatureConfig
from fraudlake.ml.registry import LocalStore, ModelRegistry, ModelStoreSettings
from fraudlake.ml.runtime import ModelJob, train_candidate

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
    # Sized by rows: a chunk spans the days that hold about chunk_rows at the window's average rate.
    sized = list(clickhouse_chunks(dsn, "fraud_chunks", start, end, chunk_rows=len(frame) // 4))
    assert 3 <= len(sized) <= 6
    assert sum(len(c) for c in sized) == len(frame)
    by_rows = np.vstack(list(chunked_features(iter(sized), CONFIG)))
    np.testing.assert_array_equal(by_rows, chunked)


def test_the_dags_chunked_path_uploads_a_servable_version(clickhouse: ServiceRecord, tmp_path) -> None:
    """`train_candidate` on the chunked path (as `train_model` runs it above `chunked_above_rows`)
    trains from ClickHouse chunks, uploads the version with its graph tables, and the model loads."""
    frame = _make_frame()
    dsn = clickhouse.endpoints["dsn"]
    client = connect(dsn)
    try:
        client.command("DROP DATABASE IF EXISTS fraud_chunks_dag")
        client.command("CREATE DATABASE fraud_chunks_dag")
        client.command(DDL.replace("fraud_chunks.", "fraud_chunks_dag."))
        client.insert_df("fraud_chunks_dag.transactions", frame[list(data.COLUMNS)])
    finally:
        client.close()
    registry = ModelRegistry(LocalStore(tmp_path))

    class LocalJob(ModelJob):
        def registry(self) -> ModelRegistry:
            return registry

    job = LocalJob(
        "fraud_chunks_dag", dsn, ModelStoreSettings(lake_bucket="lake"), lookback_days=200, label_delay_days=2
    )
    out = train_candidate(job, datetime(2016, 6, 1, tzinfo=UTC), "chunked")
    assert out["path"] == "chunked"
    assert out["rows"] == len(frame)
    assert registry.versions() == [out["version"]]
    assert set(out["test_auc_pr"]) == {"a_rule", "b_xgb_tabular", "b_plus_xgb_aggregates", "c_xgb_graph"}
    files = read_dir(tmp_path / "models" / out["version"])
    model = FraudModel(files)
    assert model.version == out["version"]
    last = frame.iloc[-1]
    assert np.isfinite(model.graphsage_features(last["card_id"], last["merchant_id"], last["user_id"])).all()
