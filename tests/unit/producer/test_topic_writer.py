"""TopicWriter without a broker: keys, sequence accounting, --rate and --speedup pacing."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pytest

from fraudlake.producer.delivery import DeliveryTracker
from fraudlake.producer.kafka_producer import Pacing, TopicWriter
from fraudlake.producer.pacing import EventTimePacer, TokenBucket
from fraudlake.schemas import TRANSACTIONS
from fraudlake.schemas.envelope import JsonEncoder

pytestmark = pytest.mark.unit


class FakeProducer:
    """Acknowledges every message on the next poll, recording when it was produced."""

    def __init__(self, fail_keys: frozenset[str] = frozenset()) -> None:
        self.sent: list[tuple[float, str, str]] = []
        self._waiting: list[tuple[Callable[[Any, Any], None], str]] = []
        self.fail_keys = fail_keys

    def produce(
        self, topic: str, value: str, key: str, on_delivery: Callable[[Any, Any], None], headers: Any = None
    ) -> None:
        self.sent.append((time.monotonic(), key, value))
        self._waiting.append((on_delivery, key))

    def poll(self, timeout: float = 0) -> int:
        waiting, self._waiting = self._waiting, []
        for callback, key in waiting:
            callback("failed" if key in self.fail_keys else None, None)
        return len(waiting)


@pytest.fixture(scope="module")
def transactions(generated) -> pa.Table:
    return generated.table.slice(0, 3_000)


def _writer(
    producer: FakeProducer, tracker: DeliveryTracker, pacing: Pacing, chunk: int = 500
) -> TopicWriter:
    return TopicWriter(producer, "t", TRANSACTIONS, tracker, pacing, chunk, JsonEncoder(TRANSACTIONS))  # type: ignore[arg-type]


def test_every_row_is_sent_keyed_by_card_and_accounted(transactions: pa.Table) -> None:
    producer, tracker = FakeProducer(), DeliveryTracker(start=1_000)
    _writer(producer, tracker, Pacing()).send(transactions, first_seq=1_000)
    producer.poll()
    tracker.settle()
    assert [key for _, key, _ in producer.sent] == transactions["card_id"].to_pylist()
    assert [json.loads(v)["payload"]["txn_id"] for _, _, v in producer.sent] == transactions[
        "txn_id"
    ].to_pylist()
    assert tracker.checkpoint == 1_000 + transactions.num_rows
    assert tracker.progress.produced == tracker.progress.delivered == transactions.num_rows
    assert tracker.progress.bytes == sum(len(v) for _, _, v in producer.sent)


def test_a_failed_record_holds_the_checkpoint_before_its_chunk(transactions: pa.Table) -> None:
    bad_key = transactions["card_id"][1_200].as_py()
    first_bad = transactions["card_id"].to_pylist().index(bad_key)
    producer, tracker = FakeProducer(frozenset({bad_key})), DeliveryTracker()
    _writer(producer, tracker, Pacing(), chunk=500).send(transactions, first_seq=0)
    producer.poll()
    tracker.settle()
    assert tracker.checkpoint == (first_bad // 500) * 500
    assert tracker.progress.failed == transactions["card_id"].to_pylist().count(bad_key)


def test_rate_limit_spaces_the_records(transactions: pa.Table) -> None:
    producer = FakeProducer()
    _writer(producer, DeliveryTracker(), Pacing(bucket=TokenBucket(rate=4_000))).send(
        transactions.slice(0, 1_400), 0
    )
    span = producer.sent[-1][0] - producer.sent[0][0]
    assert span >= (1_400 - 400) / 4_000 * 0.9  # burst of rate/10, then the rate


def test_speedup_replays_event_time(transactions: pa.Table) -> None:
    ts = transactions["event_ts"].to_numpy().astype("datetime64[s]").astype(int)
    cut = int((ts < ts[0] + 1_800).sum())  # the first 30 event minutes
    producer = FakeProducer()
    _writer(producer, DeliveryTracker(), Pacing(replay=EventTimePacer(speedup=3_600))).send(
        transactions.slice(0, cut), 0
    )
    span = producer.sent[-1][0] - producer.sent[0][0]
    expected = (ts[cut - 1] - ts[0]) / 3_600
    assert span >= expected - 0.06  # never ahead of the replay clock (slices of 50 ms)
