"""The stream scorer on a real local Kafka: one committed decision per transaction, under kills.

Each test runs `fraudlake scorer run` replicas as processes against its own pipeline's topics and reads
the decisions topic with isolation.level=read_committed, as the ClickHouse loader and the UI would.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from model_kit import frame_records, trained_model

from fraudlake.local.stack.service import ServiceRecord
from fraudlake.ml.registry import LocalStore, ModelRegistry

sys.path.insert(0, str(Path(__file__).parents[1] / "unit" / "stream"))
from stream_kit import (
    ScorerProcess,
    create_topic,
    end_offsets,
    produce,
    read_committed,
    topics_of,
    transaction_message,
    unique_pipeline,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def trained() -> tuple[dict[str, bytes], pd.DataFrame]:
    return trained_model()


@pytest.fixture
def model_dir(trained: tuple[dict[str, bytes], pd.DataFrame], tmp_path: Path) -> Path:
    ModelRegistry(LocalStore(tmp_path / "lake"), "models").publish(trained[0])
    return tmp_path / "lake" / "models"


def test_each_transaction_gets_one_committed_decision_across_kills(
    kafka: ServiceRecord, trained: tuple[dict[str, bytes], pd.DataFrame], model_dir: Path, tmp_path: Path
) -> None:
    bootstrap, pipeline = kafka.endpoints["bootstrap"], unique_pipeline("once")
    topics = topics_of(pipeline)
    create_topic(bootstrap, topics["transactions"], 4)
    txns = frame_records(trained[1], 0, 4000)
    produce(bootstrap, topics["transactions"], map(transaction_message, txns))
    # Checkpoints of up to a second / 500 messages: kills land inside open Kafka transactions.
    extra = ("--commit-interval", "1", "--commit-every", "500")
    for round_, progress in enumerate((600, 2000)):  # kill after a few checkpoints, then mid-stream
        scorer = ScorerProcess(bootstrap, pipeline, model_dir, tmp_path, f"scorer-{round_}", extra).start()
        try:
            wait_for(
                f"{progress} decisions' offsets",
                lambda p=progress: end_offsets(bootstrap, topics["decisions"]) >= p,
                240,
                [scorer],
            )
        finally:
            scorer.kill()
    last = ScorerProcess(bootstrap, pipeline, model_dir, tmp_path, "scorer-last", extra).start()
    try:
        decisions = read_committed(bootstrap, topics["decisions"], len(txns), timeout=240, settle=5)
    finally:
        last.stop()
    ids = Counter(d["txn_id"] for d in decisions)
    assert len(decisions) == len(txns), last.log_text()[-3000:]
    assert set(ids) == {t["txn_id"] for t in txns}
    assert max(ids.values()) == 1
    assert {d["decision"] for d in decisions} <= {"approve", "review", "decline"}


def test_unreadable_messages_go_to_the_dead_letter_topic_and_the_rest_is_decided(
    kafka: ServiceRecord, trained: tuple[dict[str, bytes], pd.DataFrame], model_dir: Path, tmp_path: Path
) -> None:
    bootstrap, pipeline = kafka.endpoints["bootstrap"], unique_pipeline("dlq")
    topics = topics_of(pipeline)
    create_topic(bootstrap, topics["transactions"], 2)
    good = frame_records(trained[1], 0, 50)
    missing = b'{"txn_id": "m1", "event_ts": 1552589520000, "card_id": "c1"}'
    wrong_type = json.dumps(json.loads(transaction_message(good[0])[1]) | {"amount": "12.50"}).encode()
    bad = [
        ("c1", b"{not json"),
        ("c1", missing),
        ("c1", wrong_type),
        ("c1", b"[1, 2, 3]"),
        ("c1", b""),
    ]
    messages = [transaction_message(t) for t in good[:25]] + bad + [transaction_message(t) for t in good[25:]]
    produce(bootstrap, topics["transactions"], messages)
    scorer = ScorerProcess(bootstrap, pipeline, model_dir, tmp_path).start()
    try:
        dead = read_committed(bootstrap, topics["deadletter"], len(bad), timeout=180)
        decisions = read_committed(bootstrap, topics["decisions"], len(good), timeout=60)
        assert scorer.alive(), scorer.log_text()[-3000:]
    finally:
        scorer.stop()
    assert sorted(d["kind"] for d in dead) == sorted(
        ["malformed_json", "invalid_fields", "invalid_fields", "not_an_object", "empty"]
    )
    reasons = {d["value"]: d["reason"] for d in dead}
    assert "merchant_id" in reasons[missing.decode()]
    assert "card_id" not in reasons[missing.decode()]
    assert "amount" in reasons[wrong_type.decode()]
    assert sorted(d["txn_id"] for d in decisions) == sorted(t["txn_id"] for t in good)
