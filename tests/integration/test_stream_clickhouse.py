"""Decisions and alerts of the stream scorer reach ClickHouse (the UI's and the agent's tables)."""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from model_kit import frame_records, trained_model

from fraudlake.clickhouse.client import connect
from fraudlake.clickhouse.migrations import SchemaParams, apply_schema, render_statements
from fraudlake.local.chdb_http.process import LocalClickHouseServer
from fraudlake.local.stack.service import ServiceRecord
from fraudlake.ml.registry import LocalStore, ModelRegistry

sys.path.insert(0, str(Path(__file__).parents[1] / "unit" / "stream"))
from stream_kit import (
    ScorerProcess,
    create_topic,
    produce,
    read_committed,
    topics_of,
    transaction_message,
    unique_pipeline,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
RULE = {"name": "velocity_test", "type": "Velocity", "windowMinutes": 60, "minCount": 3}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalClickHouseServer]:
    """ClickHouse over HTTP (the scorer is another process; the in-process chDB has one owner)."""
    folder = tmp_path_factory.mktemp("stream-clickhouse")
    with LocalClickHouseServer(folder / "data", folder / "server.log", password="stream-test") as running:
        yield running


def test_decisions_and_alerts_are_loaded_into_clickhouse_once(
    kafka: ServiceRecord, server: LocalClickHouseServer, tmp_path: Path
) -> None:
    files, frame = trained_model()
    bootstrap, pipeline = kafka.endpoints["bootstrap"], unique_pipeline("ch")
    database = f"stream_{uuid.uuid4().hex[:8]}"
    ch = connect(server.dsn)
    apply_schema(ch, render_statements(SchemaParams(database)))
    topics = topics_of(pipeline)
    create_topic(bootstrap, topics["transactions"], 2)
    ModelRegistry(LocalStore(tmp_path / "lake"), "models").publish(files)
    txns: list[dict] = frame_records(pd.DataFrame(frame), 0, 200)
    burst = [txns[0] | {"txn_id": f"burst-{i}", "event_ts": f"2025-01-01T10:0{i}:00Z"} for i in range(3)]
    produce(bootstrap, topics["transactions"], map(transaction_message, txns + burst))
    scorer = ScorerProcess(
        bootstrap,
        pipeline,
        tmp_path / "lake" / "models",
        tmp_path,
        extra=("--rules", json.dumps([RULE]), "--clickhouse-database", database),
        env={"FRAUDLAKE_CLICKHOUSE_DSN": server.dsn},
    ).start()
    try:
        alerts = read_committed(bootstrap, topics["alerts"], 1, timeout=180)
        expected = len(txns) + len(burst)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            loaded = ch.query(f"SELECT count(), uniqExact(txn_id) FROM {database}.decisions").result_rows[0]
            if loaded[0] >= expected:
                break
            time.sleep(0.5)
        alert_rows = ch.query(f"SELECT alert_id, source FROM {database}.alerts FINAL").result_rows
    finally:
        scorer.stop()
    assert tuple(loaded) == (expected, expected), scorer.log_text()[-3000:]
    assert {a["alert_id"] for a in alerts} == {row[0] for row in alert_rows}
    assert any(a["txn_id"] == "burst-2" for a in alerts)
    fired = ch.query(
        f"SELECT rules_fired FROM {database}.decisions FINAL WHERE txn_id = 'burst-2'"
    ).result_rows
    assert [hit["rule"] for hit in json.loads(fired[0][0])] == ["velocity_test"]
