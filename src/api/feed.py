"""Keeping the online state current from outside the request path: the transactions topic
(a background consumer) and a ClickHouse cold start at model load."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping
from typing import Any

from fraudlake.common.background import BackgroundThread
from fraudlake.ml.features import EVENT_MS, EVENT_TS, HISTORY_FIELDS
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
