"""Keeping the online state current from outside the request path: the transactions topic
(a background consumer), a ClickHouse cold start at model load, and the bank's card statuses (its
`cards` table's CDC topic, read like a global table). The stream scorer reads card statuses the same way."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fraudlake.clickhouse.cdc_ingest import decode
from fraudlake.common.background import BackgroundThread
from fraudlake.ml.features import EVENT_MS, EVENT_TS, HISTORY_FIELDS
from fraudlake.scoring.card_status import CardStatusBook
from fraudlake.scoring.models import TransactionIn

log = logging.getLogger("fraudlake.api.feed")
# The history's fields as the online state takes them (the event time in epoch milliseconds).
COLD_START_COLUMNS = tuple(EVENT_MS if name == EVENT_TS else name for name in HISTORY_FIELDS)
_COLD_START_SELECT = ", ".join(
    f"toUnixTimestamp64Milli({EVENT_TS}) AS {EVENT_MS}" if name == EVENT_MS else name
    for name in COLD_START_COLUMNS
)
# A topic message is usable when it has every field a scoring request must have (the rest may be null).
REQUIRED_FIELDS = tuple(name for name, field in TransactionIn.model_fields.items() if field.is_required())


def decode_transaction(value: bytes | None) -> dict[str, Any] | None:
    """A transactions-topic message (Connect JSON envelope or bare payload) as a record; None if unusable."""
    if value is None:  # a tombstone carries no transaction
        return None
    try:
        doc = json.loads(value)
    except (ValueError, UnicodeDecodeError):
        return None
    payload = doc.get("payload", doc) if isinstance(doc, dict) else None
    if not isinstance(payload, dict) or any(name not in payload for name in REQUIRED_FIELDS):
        return None
    return payload


class TransactionFeed(BackgroundThread):
    """A confluent-kafka consumer in a background thread handing each transaction to `on_transaction`
    (`start()`, `stop()`).

    Every replica keeps its own state, so each process is its own consumer group (no shared offsets)
    and starts at the topic's end: the cold start covers the past.
    """

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        on_transaction: Callable[[Mapping[str, Any]], Any],
        group_id: str | None = None,
    ):
        self.bootstrap, self.topic, self.on_transaction = bootstrap, topic, on_transaction
        self.group_id = group_id or f"fraudlake-api-{socket.gethostname()}-{os.getpid()}"
        self.consumed = 0
        self.assigned = threading.Event()  # set once partitions are assigned: from here nothing is missed
        super().__init__("transactions-feed")

    def _start_at_end(self, consumer: Any, partitions: list[Any]) -> None:
        # "latest" would be resolved at the first fetch, skipping what arrives in between: pin it now.
        consumer.assign(_resolve_end(consumer, partitions))
        self.assigned.set()

    def _run(self) -> None:
        from confluent_kafka import Consumer

        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": self.group_id,
                "auto.offset.reset": "latest",
                "enable.auto.commit": False,
            }
        )
        consumer.subscribe([self.topic], on_assign=self._start_at_end)
        try:
            while not self._stop.is_set():
                msg = consumer.poll(0.5)
                if msg is None:
                    continue
                if msg.error():
                    log.warning("transactions feed: %s", msg.error())
                    continue
                record = decode_transaction(msg.value())
                if record is None:
                    log.warning(
                        "transactions feed: skipped an undecodable message", extra={"offset": msg.offset()}
                    )
                    continue
                self.on_transaction(record)
                self.consumed += 1
        finally:
            consumer.close()


class CardStatusFeed(BackgroundThread):
    """The bank's card statuses from the CDC topics of its `cards` table into a `CardStatusBook`.

    Read like a global table: every process reads every partition from the beginning (the compacted
    topic holds each card's latest change, so this is how a process learns the statuses) and then follows
    new changes; no consumer group offsets are kept. `caught_up` is set once every partition has been read
    up to the end it had when the feed found it: a scorer waits for it before deciding anything. A topic
    not created yet (a source added to a pipeline after its scorer started) is looked for again every
    `rediscover_seconds` and read from its beginning once it exists.
    """

    def __init__(
        self,
        bootstrap: str,
        topics: Sequence[str],
        book: CardStatusBook,
        rediscover_seconds: float = 5.0,
    ) -> None:
        self.bootstrap, self.topics, self.book = bootstrap, tuple(topics), book
        self.rediscover_seconds = rediscover_seconds
        self.caught_up = threading.Event()
        self.unreadable = 0  # change events that could not be read (logged and skipped)
        self._ends: dict[tuple[str, int], int] = {}  # partition → the end offset it had when found
        self._found: set[str] = set()
        super().__init__("card-status-feed")

    def _run(self) -> None:
        from confluent_kafka import Consumer

        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"fraudlake-card-status-{socket.gethostname()}-{os.getpid()}",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
            }
        )
        next_discovery = next_position_check = 0.0
        try:
            while not self._stop.is_set():
                if len(self._found) < len(self.topics) and time.monotonic() >= next_discovery:
                    self._discover(consumer)
                    next_discovery = time.monotonic() + self.rediscover_seconds
                msg = consumer.poll(0.2)
                if msg is not None and not msg.error():
                    self._apply(msg)
                if self._ends and (msg is None or time.monotonic() >= next_position_check):
                    self._check_positions(consumer)
                    next_position_check = time.monotonic() + 0.5
                if not self._ends and not self.caught_up.is_set():
                    self.caught_up.set()
                    log.info("card statuses read", extra={"stopped_cards": len(self.book)})
        finally:
            consumer.close()

    def _discover(self, consumer: Any) -> None:
        """Assign the partitions of topics that exist now, from their beginning."""
        from confluent_kafka import OFFSET_BEGINNING, TopicPartition

        metadata = consumer.list_topics(timeout=10)
        new = []
        for topic in self.topics:
            found = metadata.topics.get(topic)
            if topic in self._found or found is None or found.error is not None:
                continue
            self._found.add(topic)
            for partition in found.partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
                if high > low:
                    self._ends[(topic, partition)] = high
                new.append(TopicPartition(topic, partition, OFFSET_BEGINNING))
        if new:
            consumer.incremental_assign(new)
        missing = [topic for topic in self.topics if topic not in self._found]
        if missing:
            log.info("card status topics not created yet; looking again", extra={"topics": missing})

    def _check_positions(self, consumer: Any) -> None:
        """Forget the start-time end of every partition read past it. Positions, not the offsets of the
        messages seen: compaction and transaction markers leave offsets that no message carries."""
        from confluent_kafka import TopicPartition

        if not self._ends:
            return
        pending = [TopicPartition(topic, partition) for topic, partition in self._ends]
        for tp in consumer.position(pending):
            if tp.offset >= self._ends[(tp.topic, tp.partition)]:
                del self._ends[(tp.topic, tp.partition)]

    def _apply(self, msg: Any) -> None:
        try:
            self.book.apply(decode(msg.value()))
        except (ValueError, KeyError, TypeError) as error:
            self.unreadable += 1
            log.warning(
                "card status: skipped an unreadable change",
                extra={"topic": msg.topic(), "offset": msg.offset(), "error": str(error)},
            )


def _resolve_end(consumer: Any, partitions: list[Any]) -> list[Any]:
    """The partitions positioned at their current end offsets (resolved now, not at the first fetch)."""
    for tp in partitions:
        tp.offset = consumer.get_watermark_offsets(tp, timeout=10, cached=False)[1]
    return partitions


def cold_start_rows(dsn: str, database: str, window_ms: int, max_rows: int) -> list[dict[str, Any]]:
    """The latest transactions in ClickHouse (the last `window_ms` of event time, at most `max_rows`),
    oldest first, as records for `ServingState.observe`."""
    from fraudlake.clickhouse.client import connect

    client = connect(dsn, database)
    result = client.query(
        f"""SELECT {_COLD_START_SELECT}
            FROM `{database}`.transactions FINAL
            WHERE event_ts > (SELECT max(event_ts) FROM `{database}`.transactions)
                             - toIntervalMillisecond({{window_ms:Int64}})
            ORDER BY event_ts DESC, txn_id DESC
            LIMIT {{max_rows:UInt64}}""",
        parameters={"window_ms": window_ms, "max_rows": max_rows},
    )
    rows = [dict(zip(COLD_START_COLUMNS, row, strict=True)) for row in result.result_rows]
    rows.reverse()
    return rows
