"""The scoring API against real services: the champion from MinIO (and its hot reload), the Kafka
transactions feed and alerts topic, ClickHouse cold start and the predictions table."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from confluent_kafka import Consumer, Producer
from fastapi.testclient import TestClient
from model_kit import frame_records, new_version, trained_model

from fraudlake.api.main import create_app
from fraudlake.api.settings import ApiSettings
from fraudlake.clickhouse.client import connect
from fraudlake.clickhouse.migrations import SchemaParams, apply_schema, render_statements
from fraudlake.local.stack.service import ServiceRecord
from fraudlake.ml import data
from fraudlake.ml.artifact import FraudModel
from fraudlake.ml.batch_features import batch_features
from fraudlake.ml.registry import MemoryStore, MinioStore, ModelRegistry, ModelStoreSettings
from fraudlake.producer.kafka_producer import ensure_topics

pytestmark = pytest.mark.integration
API_KEY = "integration-test-key-4e8d1f"
AUTH = {"X-API-Key": API_KEY}


@pytest.fixture(scope="module")
def trained() -> tuple[dict[str, bytes], pd.DataFrame]:
    return trained_model()


def _eventually(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def memory_registry(*versions: dict[str, bytes]) -> ModelRegistry:
    registry = ModelRegistry(MemoryStore(), "models")
    for files in versions:
        registry.publish(files)
    return registry


def _store_settings(minio: ServiceRecord, bucket: str) -> dict[str, Any]:
    return {
        "s3_endpoint": minio.endpoints["url"],
        "s3_access_key": minio.credentials["access_key"],
        "s3_secret_key": minio.credentials["secret_key"],
        "lake_bucket": bucket,
    }


def test_champion_is_loaded_from_minio_and_hot_reloaded(minio: ServiceRecord, trained) -> None:
    files, frame = trained
    bucket = f"api-it-{uuid.uuid4().hex[:8]}"
    registry = ModelRegistry(MinioStore(ModelStoreSettings(**_store_settings(minio, bucket))), "models")
    first = registry.publish(files).version
    settings = ApiSettings(
        api_keys=API_KEY,
        model_uri=f"s3://{bucket}/models",
        model_poll_seconds=0.2,
        **_store_settings(minio, "unused"),
    )
    app = create_app(settings)
    txns = frame_records(frame, len(frame) - 50)
    with TestClient(app) as client:
        assert client.get("/readyz").json()["model_version"] == first
        assert client.get("/v1/model", headers=AUTH).json()["source"] == f"s3://{bucket}/models/{first}"
        assert client.post("/v1/score", json=txns[0], headers=AUTH).status_code == 200

        second = registry.publish(new_version(files, "it", review=0.5)).version
        _eventually(lambda: client.get("/readyz").json()["model_version"] == second, "the new champion")
        scored = client.post("/v1/score", json=txns[1], headers=AUTH).json()
        assert scored["model_version"] == second


@pytest.fixture
def topics(kafka: ServiceRecord) -> dict[str, str]:
    run = uuid.uuid4().hex[:8]
    names = {
        "transactions": f"fraudlake.it.api-{run}.transactions",
        "alerts": f"fraudlake.it.api-{run}.alerts",
    }
    ensure_topics(kafka.endpoints["bootstrap"], list(names.values()), create_partitions=1)
    return names


def test_transactions_topic_feeds_the_state_and_flags_go_to_the_alerts_topic(
    kafka: ServiceRecord, topics: dict[str, str], trained
) -> None:
    files, frame = trained
    bootstrap = kafka.endpoints["bootstrap"]
    settings = ApiSettings(
        api_keys=API_KEY,
        kafka_bootstrap=bootstrap,
        transactions_topic=topics["transactions"],
        alerts_topic=topics["alerts"],
    )
    app = create_app(settings, memory_registry(files))
    base = frame_records(frame, len(frame) - 1)[0] | {
        "card_id": "kafka-card",
        "user_id": "kafka-user",
        "amount": 2.0,
    }
    with TestClient(app) as client:
        feed = app.state.services.feed
        assert feed is not None
        assert feed.assigned.wait(60), "the transactions consumer was never assigned its partition"
        producer = Producer({"bootstrap.servers": bootstrap})
        for i in range(11):  # eleven card transactions within two minutes, seen only on the topic
            payload = base | {"txn_id": f"{i:032x}", "event_ts": 1_528_000_000_000 + i * 10_000}
            producer.produce(
                topics["transactions"],
                key=b"kafka-card",
                value=json.dumps({"schema": {}, "payload": payload}).encode(),
            )
        producer.flush(30)
        _eventually(lambda: feed.consumed >= 11, "the feed to consume the topic")

        twelfth = base | {"txn_id": "c" * 32, "event_ts": "2018-06-03T04:28:00Z"}
        scored = client.post("/v1/score", json=twelfth, headers=AUTH).json()
    assert "velocity_5m" in [hit["rule"] for hit in scored["rules_fired"]]  # history came from Kafka
    alerts = _consume(bootstrap, topics["alerts"], expected=1)
    assert [a["txn_id"] for a in alerts] == ["c" * 32]
    assert alerts[0]["card_id"] == "kafka-card"
    assert "velocity_5m" in alerts[0]["rules"]
    assert "velocity_5m: 12 transactions on this card within 5 minutes" in alerts[0]["message"]


def _consume(bootstrap: str, topic: str, expected: int) -> list[dict[str, Any]]:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"it-{uuid.uuid4()}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    try:
        while len(out) < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                out.append(json.loads(msg.value()))
    finally:
        consumer.close()
    return out


def test_cold_start_from_clickhouse_and_predictions_written_back(clickhouse: ServiceRecord, trained) -> None:
    files, frame = trained
    dsn = clickhouse.endpoints["dsn"]
    database = f"api_it_{uuid.uuid4().hex[:8]}"
    client_ch = connect(dsn)
    apply_schema(client_ch, render_statements(SchemaParams(database)))
    history = frame.iloc[-3000:-100]
    columns = [
        "txn_id",
        "event_ts",
        "user_id",
        "card_id",
        "merchant_id",
        "amount",
        "use_chip",
        "mcc",
        "merchant_state",
        "errors",
        "is_fraud",
    ]
    rows = history[columns].copy()
    rows["event_ts"] = rows["event_ts"].dt.tz_convert("UTC").dt.tz_localize(None)
    rows["merchant_state"] = rows["merchant_state"].replace("", None)
    rows["errors"] = rows["errors"].replace("", None)
    client_ch.insert_df(f"{database}.transactions", rows)

    settings = ApiSettings(
        api_keys=API_KEY,
        clickhouse_dsn=dsn,
        clickhouse_database=database,
        cold_start_max_rows=100_000,
        write_predictions=True,
    )
    app = create_app(settings, memory_registry(files))
    upcoming = frame_records(frame, len(frame) - 100)
    with TestClient(app) as client:
        metrics = client.get("/metrics").text
        assert f'fraudlake_api_state_transactions_total{{source="clickhouse"}} {len(history)}.0' in metrics
        batch = client.post(
            "/v1/score/batch", json={"transactions": upcoming, "reasons": "none"}, headers=AUTH
        )
        assert batch.status_code == 200
    # A state warmed from ClickHouse scores like the training feature path over the same history.
    part = frame.iloc[-3000:].reset_index(drop=True)
    model = FraudModel(files)
    tabular = batch_features(data.columns(part), model.feature_config)[-100:]
    graph = np.stack(
        [
            model.graph_features(c, m, u)
            for c, m, u in zip(
                part["card_id"][-100:], part["merchant_id"][-100:], part["user_id"][-100:], strict=True
            )
        ]
    )
    expected = model.score(np.hstack([tabular, graph]).astype(np.float32))
    np.testing.assert_allclose([r["score"] for r in batch.json()["results"]], expected, rtol=1e-6)
    # Leaving the client stopped the writers after draining their queues.
    written = client_ch.query(f"SELECT count(), uniqExact(txn_id) FROM {database}.predictions").result_rows[0]
    assert written == (100, 100)


def test_the_api_scores_the_challenger_in_shadow_off_the_response_path(
    clickhouse: ServiceRecord, trained
) -> None:
    """With a challenger in the registry the answers are the champion's, unchanged, and the challenger's
    verdicts land in `predictions` as role shadow, next to the champion's rows."""
    files, frame = trained
    dsn = clickhouse.endpoints["dsn"]
    client_ch = connect(dsn)
    upcoming = frame_records(frame, len(frame) - 100)

    def answers(with_challenger: bool) -> tuple[list[dict[str, Any]], str, str]:
        database = f"api_shadow_{uuid.uuid4().hex[:8]}"
        apply_schema(client_ch, render_statements(SchemaParams(database)))
        registry = memory_registry(files)
        challenger = registry.upload(new_version(files, "challenger", review=0.2))
        if with_challenger:
            registry.set_challenger(challenger, "integration test")
        settings = ApiSettings(
            api_keys=API_KEY, clickhouse_dsn=dsn, clickhouse_database=database, write_predictions=True
        )
        app = create_app(settings, registry)
        with TestClient(app) as client:
            watcher = app.state.services.challenger
            assert watcher is not None
            assert not with_challenger or watcher.wait_loaded(30)
            body = client.post("/v1/score/batch", json={"transactions": upcoming}, headers=AUTH).json()
        return body["results"], database, challenger

    plain, _, _ = answers(False)
    shadowed, database, challenger = answers(True)
    assert shadowed == plain  # the answers given do not depend on the challenger
    rows = client_ch.query(
        f"SELECT role, model_version, count() FROM {database}.predictions FINAL GROUP BY role, model_version"
        " ORDER BY role"
    ).result_rows
    champion = json.loads(files["manifest.json"])["version"]
    assert rows == [("champion", champion, 100), ("shadow", challenger, 100)]


def test_a_store_reads_a_missing_bucket_as_empty_and_its_first_write_creates_it(minio: ServiceRecord) -> None:
    """Readers hold GetObject and a prefix-scoped ListBucket only, so nothing asks about the bucket at
    start (HeadBucket would be refused); the registry's first write makes the bucket."""
    bucket = f"lazy-{uuid.uuid4().hex[:8]}"
    store = MinioStore(ModelStoreSettings(**_store_settings(minio, bucket)))
    assert not store.client.bucket_exists(bucket)  # building the store did not create it
    assert store.get("models/champion.json") is None
    assert store.list("models/") == []
    store.put("models/a.txt", b"a")
    assert store.get("models/a.txt") == b"a"
    assert store.list("models/") == ["models/a.txt"]
