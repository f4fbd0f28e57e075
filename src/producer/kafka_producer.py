"""Sending record tables to Kafka with confluent-kafka: idempotent, acks=all, keyed, compressed.

`TopicWriter.send(table, first_seq)` encodes a table (`encoders`; JSON is built column-wise), then produces
it in chunks that share one delivery callback (`delivery.ChunkAck`), pacing each chunk by a
token bucket (`--rate`) and/or event time (`--speedup`). Throughput comes from large, compressed
batches (linger + batch.size) and from keeping Python's per-message work to one `produce` call.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from opentelemetry.trace import SpanKind

from fraudlake.common import tracing
from fraudlake.producer.delivery import DeliveryTracker
from fraudlake.producer.encoders import ValueEncoder
from fraudlake.producer.pacing import EventTimePacer, TokenBucket
from fraudlake.schemas.fields import RecordSchema

COMPRESSIONS = ("lz4", "zstd", "snappy", "gzip", "none")
_PACE_RESOLUTION_S = 0.05  # event-time replay sends in slices of at most this much wall time


class ProducerError(Exception):
    """A problem the user can act on (unreachable broker, missing topic); reported as one line."""


class StopRequested(Exception):  # noqa: N818 - a request, not an error
    """Raised between chunks once a stop was requested (Ctrl-C / SIGTERM): a safe point to flush."""


@dataclass(frozen=True)
class ProducerSettings:
    bootstrap: str
    compression: str = "lz4"
    linger_ms: int = 50
    batch_bytes: int = 1 << 20
    delivery_timeout_ms: int = 120_000
    rate: float | None = None  # records per second across all topics; None = as fast as possible
    speedup: float | None = None  # event-time replay factor; None = no event-time pacing
    chunk_records: int = 5_000
    extra: dict[str, str] = field(default_factory=dict)  # any librdkafka property, last word

    def librdkafka_config(self) -> dict[str, Any]:
        if self.compression not in COMPRESSIONS:
            raise ProducerError(f"compression must be one of {', '.join(COMPRESSIONS)}")
        return {
            "bootstrap.servers": self.bootstrap,
            # Idempotence implies acks=all, retries and max 5 in-flight requests per connection:
            # no duplicates or reordering from retries within a run; spelled out for the reader.
            "enable.idempotence": True,
            "acks": "all",
            "max.in.flight.requests.per.connection": 5,
            "compression.type": self.compression,
            "linger.ms": self.linger_ms,
            "batch.size": self.batch_bytes,
            "batch.num.messages": 100_000,
            "queue.buffering.max.messages": 1_000_000,
            "queue.buffering.max.kbytes": 1_048_576,
            "message.timeout.ms": self.delivery_timeout_ms,
            "log_level": 3,
            **self.extra,
        }


def make_producer(settings: ProducerSettings, on_error: Callable[[Any], None] | None = None) -> Producer:
    config = settings.librdkafka_config()
    if on_error is not None:
        config["error_cb"] = on_error
    return Producer(config)


def ensure_topics(
    bootstrap: str, topics: list[str], create_partitions: int | None, timeout: float = 15
) -> None:
    """Fail with one clear line if a topic is missing; create it first when `create_partitions` is set."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise ProducerError(f"cannot reach Kafka at {bootstrap}: {exc.args[0].str()}") from None
    missing = [t for t in topics if t not in metadata.topics]
    if not missing:
        return
    if create_partitions is None:
        raise ProducerError(
            f"topic(s) {', '.join(missing)} do not exist: the FraudPipeline creates them, "
            "or pass --create-topics N for a local broker"
        )
    replicas = min(3, len(metadata.brokers))
    futures = admin.create_topics([NewTopic(t, create_partitions, replicas) for t in missing])
    for topic, future in futures.items():
        try:
            future.result(timeout)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise ProducerError(f"could not create topic {topic}: {exc}") from None


@dataclass
class Pacing:
    """Shared by the topic writers of one run, so `--rate` bounds the run as a whole."""

    bucket: TokenBucket | None = None
    replay: EventTimePacer | None = None

    @classmethod
    def from_settings(cls, settings: ProducerSettings) -> Pacing:
        return cls(
            TokenBucket(settings.rate) if settings.rate else None,
            EventTimePacer(settings.speedup) if settings.speedup else None,
        )


class TopicWriter:
    """Produces one record type to one topic, keyed by the record's key field."""

    def __init__(
        self,
        producer: Producer,
        topic: str,
        record: RecordSchema,
        tracker: DeliveryTracker,
        pacing: Pacing,
        chunk_records: int,
        encoder: ValueEncoder,
    ) -> None:
        self.producer, self.topic, self.record, self.tracker = producer, topic, record, tracker
        self.pacing = pacing
        self.chunk_records = chunk_records
        self.encoder = encoder
        self.on_chunk: Callable[[], None] = lambda: None
        self.stop_requested: Callable[[], bool] = lambda: False

    def send(self, table: pa.Table, first_seq: int) -> None:
        """Produce every row of `table`; row i gets sequence number `first_seq + i`."""
        values = self.encoder.encode(table)
        keys = table.column(self.record.key_field).to_pylist()
        for start, end in self._chunks(table):
            self._wait(self._delay(table, start, end))
            ack = self.tracker.open_chunk(first_seq + start, first_seq + end)
            progress = self.tracker.progress
            progress.started_at = progress.started_at or time.monotonic()
            with tracing.tracer().start_as_current_span(
                "produce chunk", kind=SpanKind.PRODUCER, attributes={"fraudlake.records": end - start}
            ):
                self._produce_range(values, keys, start, end, ack)
            self.producer.poll(0)
            progress.produced += end - start
            progress.bytes += sum(map(len, values[start:end]))  # characters = bytes for this ASCII data
            progress.last_at = time.monotonic()
            self.tracker.settle()
            self.on_chunk()
            if self.stop_requested():
                raise StopRequested

    def _produce_range(
        self, values: list[str] | list[bytes], keys: list[str], start: int, end: int, ack: Any
    ) -> None:
        produce, topic = self.producer.produce, self.topic
        # The chunk span's context, so the scorer's batch span can link back (None: tracing off).
        headers = tracing.inject_headers() if tracing.tracing_enabled() else None
        for i in range(start, end):
            while True:
                try:
                    produce(topic, values[i], keys[i], on_delivery=ack, headers=headers)
                    break
                except BufferError:  # local queue full: let librdkafka drain it
                    self.producer.poll(0.05)

    def _chunks(self, table: pa.Table) -> list[tuple[int, int]]:
        n = table.num_rows
        size = self.chunk_records
        if self.pacing.bucket is not None:
            size = max(1, min(size, int(self.pacing.bucket.rate * _PACE_RESOLUTION_S)))
        bounds = set(range(0, n, size))
        if self.pacing.replay is not None and "event_ts" in table.column_names:
            # Cut where the replay clock moves to the next slice of _PACE_RESOLUTION_S wall seconds.
            seconds = table["event_ts"].to_numpy().astype("datetime64[ms]").astype(np.int64) / 1000
            slot = np.floor(seconds / self.pacing.replay.speedup / _PACE_RESOLUTION_S)
            bounds |= set(np.flatnonzero(np.diff(slot) != 0) + 1)
        cuts = sorted(bounds | {n})
        return [(a, b) for a, b in itertools.pairwise(cuts) if b > a]

    def _delay(self, table: pa.Table, start: int, end: int) -> float:
        delay = 0.0
        if self.pacing.replay is not None and "event_ts" in table.column_names:
            event_seconds = table["event_ts"][start].value / 1000
            delay = self.pacing.replay.delay_for(event_seconds)
        if self.pacing.bucket is not None:
            delay = max(delay, self.pacing.bucket.delay_for(end - start))
        return delay

    def _wait(self, seconds: float) -> None:
        """Sleep while serving delivery reports (and keep the progress display alive)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.producer.poll(min(left, 0.1))
            self.tracker.settle()
            self.on_chunk()
            if self.stop_requested():
                raise StopRequested
