"""Delivery accounting (the resume checkpoint), pacing, and the value formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from fraudlake.producer.delivery import Checkpoint, DeliveryTracker
from fraudlake.producer.encoders import make_encoder
from fraudlake.producer.pacing import EventTimePacer, TokenBucket
from fraudlake.schemas import USERS

pytestmark = pytest.mark.unit


def _ack_all(ack, failures: int = 0) -> None:
    for i in range(ack.end - ack.start):
        ack("boom" if i < failures else None, None)


def test_checkpoint_advances_only_over_a_contiguous_delivered_prefix() -> None:
    tracker = DeliveryTracker()
    first, second, third = tracker.open_chunk(0, 10), tracker.open_chunk(10, 20), tracker.open_chunk(20, 30)
    _ack_all(second)
    tracker.settle()
    assert tracker.checkpoint == 0  # chunk 0-10 still in flight
    _ack_all(first)
    tracker.settle()
    assert tracker.checkpoint == 20
    _ack_all(third, failures=1)
    tracker.settle()
    assert tracker.checkpoint == 20  # a failed record stops the checkpoint
    assert (tracker.progress.delivered, tracker.progress.failed) == (29, 1)
    assert tracker.progress.first_error == "boom"
    fourth = tracker.open_chunk(30, 40)
    _ack_all(fourth)
    tracker.settle()
    assert tracker.checkpoint == 20  # … for the rest of the run


def test_unacknowledged_records_count_as_failed_after_the_final_flush() -> None:
    tracker = DeliveryTracker(start=100)
    ack = tracker.open_chunk(100, 110)
    for _ in range(4):
        ack(None, None)
    tracker.abandon_unacknowledged()
    assert (tracker.progress.delivered, tracker.progress.failed, tracker.checkpoint) == (4, 6, 100)


def test_checkpoint_file_round_trips_atomically(tmp_path: Path) -> None:
    path = tmp_path / "state" / "run.json"
    Checkpoint(source={"kind": "csv"}, delivered_through={"transactions": 5}).save(path)
    loaded = Checkpoint.load(path)
    assert loaded.delivered_through == {"transactions": 5}
    assert loaded.source == {"kind": "csv"}
    assert not list(path.parent.glob("*.tmp"))


def test_token_bucket_spaces_records_at_the_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=1000, burst=100, clock=lambda: now[0])
    assert bucket.delay_for(100) == 0
    assert bucket.delay_for(100) == pytest.approx(0.1)
    now[0] += 0.1
    assert bucket.delay_for(50) == pytest.approx(0.05)


def test_event_time_replay_compresses_time_by_the_speedup() -> None:
    now = [0.0]
    pacer = EventTimePacer(speedup=60, clock=lambda: now[0])
    assert pacer.delay_for(1_000_000.0) == 0
    assert pacer.delay_for(1_000_060.0) == pytest.approx(1.0)  # one event minute = one wall second
    now[0] = 5.0
    assert pacer.delay_for(1_000_060.0) == 0  # late: send at once


def test_avro_values_use_the_registry_wire_format(users) -> None:
    url = "mock://fraudlake-unit"
    encoder = make_encoder("avro", USERS, "fraudlake.ns.p.users", url)
    values = encoder.encode(users.slice(0, 3))
    assert all(v[:1] == b"\x00" for v in values)  # Confluent magic byte, then the schema id
    decode = AvroDeserializer(encoder.registry)  # the mock registry lives in that client
    context = SerializationContext("fraudlake.ns.p.users", MessageField.VALUE)
    assert [decode(v, context) for v in values] == users.slice(0, 3).to_pylist()


def test_value_formats_are_checked() -> None:
    with pytest.raises(ValueError, match="schema-registry"):
        make_encoder("avro", USERS, "t")
    with pytest.raises(ValueError, match="value format"):
        make_encoder("xml", USERS, "t")
    plain = json.loads(make_encoder("json", USERS, "t").encode(_one_user())[0])
    assert plain["user_id"] == "0"


def _one_user():
    from fraudlake.producer.entities import load_users

    return load_users().slice(0, 1)
