"""Decisions and alerts into ClickHouse, seconds after the transaction: a read_committed consumer of the
decisions and alerts topics inserting batches into the `decisions` and `alerts` tables.

At least once from Kafka (offsets are committed after the insert), idempotent in ClickHouse: both
tables are ReplacingMergeTrees keyed by txn_id / alert_id, so a batch loaded twice after a crash
leaves one row per key. Runs in the scorer process on a background thread; replicas share the
topics' partitions through one consumer group.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from fraudlake.common.background import BackgroundThread

log = logging.getLogger("fraudlake.stream.loader")
DECISION_COLUMNS = (
    "txn_id", "card_id", "user_id", "merchant_id", "event_ts", "amount", "model_version", "score",
    "decision", "reasons", "rules_fired", "produced_at", "decided_at",
)  # fmt: skip
ALERT_COLUMNS = (
    "alert_id", "txn_id", "card_id", "user_id", "merchant_id", "event_ts", "source", "score", "severity",
    "status", "message",
)  # fmt: skip
Insert = Callable[[str, Sequence[Sequence[Any]], Sequence[str]], None]


def _utc(ms: int | None) -> datetime:
    return datetime.fromtimestamp((ms or 0) / 1000, tz=UTC)


def decision_row(d: dict[str, Any]) -> tuple[Any, ...]:
    """A decisions-topic record as a `decisions` row (DECISION_COLUMNS order)."""
    return (
        d["txn_id"], d["card_id"], d["user_id"], d["merchant_id"], _utc(d["event_ts"]), d["amount"],
        d["model_version"], d["score"], d["decision"], json.dumps(d["reasons"]), json.dumps(d["rules_fired"]),
        _utc(d["produced_ms"]), _utc(d["decided_ms"]),
    )  # fmt: skip


def alert_row(a: dict[str, Any]) -> tuple[Any, ...]:
    """An alerts-topic record (`fraudlake.api.sinks.alert_messages`) as an `alerts` row."""
    return tuple(_utc(a[c]) if c == "event_ts" else a[c] for c in ALERT_COLUMNS)


class ClickHouseLoader(BackgroundThread):
    """Consumes `decisions_topic` and `alerts_topic` (read_committed) into ClickHouse until stopped."""

    def __init__(
        self, bootstrap: str, group: str, decisions_topic: str, alerts_topic: str, insert: Insert
    ) -> None:
        self.bootstrap, self.group, self.insert = bootstrap, group, insert
        self.tables = {decisions_topic: ("decisions", decision_row, DECISION_COLUMNS),
                       alerts_topic: ("alerts", alert_row, ALERT_COLUMNS)}  # fmt: skip
        self.loaded = 0
        super().__init__("clickhouse-loader")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._consume()
            except Exception:
                # Nothing after the last commit counts as loaded: a new consumer starts from there.
                log.exception("ClickHouse load failed; retrying from the last committed offsets")
                self._stop.wait(2)

    def _consume(self) -> None:
        from confluent_kafka import Consumer

        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": self.group,
                "isolation.level": "read_committed",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        consumer.subscribe(list(self.tables))
        try:
            while not self._stop.is_set():
                messages = [m for m in consumer.consume(1000, 0.5) if not m.error()]
                if messages:
                    self._load(messages)
                    consumer.commit(asynchronous=False)
        finally:
            consumer.close()

    def _load(self, messages: list[Any]) -> None:
        batches: dict[str, list[tuple[Any, ...]]] = {topic: [] for topic in self.tables}
        for message in messages:
            batches[message.topic()].append(self.tables[message.topic()][1](json.loads(message.value())))
        for topic, rows in batches.items():
            if rows:
                table, _, columns = self.tables[topic]
                self.insert(table, rows, columns)
                self.loaded += len(rows)


def clickhouse_insert(dsn: str, database: str) -> Insert:
    """An `Insert` into `<database>.<table>` over clickhouse-connect."""
    from fraudlake.clickhouse.client import connect

    client = connect(dsn, database)

    def insert(table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> None:
        client.insert(table, list(rows), column_names=list(columns), database=database)

    return insert
