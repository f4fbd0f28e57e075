"""Topics into ClickHouse, seconds after the event: the stream scorer's decisions and alerts, and the bank's
change data capture (its users and cards as Debezium writes them).

A `ClickHouseLoader` is a read_committed consumer in a consumer group inserting batches, per topic, into
the tables its `LoadTarget` names. At least once from Kafka (offsets are committed after the insert),
idempotent in ClickHouse: `decisions` and `alerts` are ReplacingMergeTrees keyed by txn_id / alert_id,
and a change of the bank's data carries its WAL position, which collapses a change loaded twice. Runs in
the scorer process on background threads; replicas share the topics' partitions through the group.

A batch that cannot be loaded is not committed: the loader logs why and tries again from the last
committed offsets, so nothing is skipped. The bank's changes have their own loader (and group), so a
change ClickHouse cannot follow (a column renamed in the bank's database) stops only them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fraudlake.common.background import BackgroundThread

log = logging.getLogger("fraudlake.stream.loader")
DECISION_COLUMNS = (
    "txn_id", "card_id", "user_id", "merchant_id", "event_ts", "amount", "model_version", "score",
    "decision", "reasons", "rules_fired", "produced_at", "decided_at",
    "shadow_model_version", "shadow_score", "shadow_decision",
)  # fmt: skip
ALERT_COLUMNS = (
    "alert_id", "txn_id", "card_id", "user_id", "merchant_id", "event_ts", "source", "score", "severity",
    "status", "message",
)  # fmt: skip
Insert = Callable[[str, Sequence[Sequence[Any]], Sequence[str]], None]


@dataclass(frozen=True)
class LoadTarget:
    """Where one topic's messages go: each row into every one of `tables`."""

    tables: tuple[str, ...]
    columns: Sequence[str]
    row: Callable[[bytes | None], Sequence[Any] | None]  # a message value as a row; None: nothing to load


def _utc(ms: int | None) -> datetime:
    return datetime.fromtimestamp((ms or 0) / 1000, tz=UTC)


def decision_row(d: dict[str, Any]) -> tuple[Any, ...]:
    """A decisions-topic record as a `decisions` row (DECISION_COLUMNS order)."""
    return (
        d["txn_id"], d["card_id"], d["user_id"], d["merchant_id"], _utc(d["event_ts"]), d["amount"],
        d["model_version"], d["score"], d["decision"], json.dumps(d["reasons"]), json.dumps(d["rules_fired"]),
        _utc(d["produced_ms"]), _utc(d["decided_ms"]),
        d.get("shadow_model_version", ""), d.get("shadow_score"), d.get("shadow_decision", ""),
    )  # fmt: skip


def alert_row(a: dict[str, Any]) -> tuple[Any, ...]:
    """An alerts-topic record (`fraudlake.api.sinks.alert_messages`) as an `alerts` row."""
    return tuple(_utc(a[c]) if c == "event_ts" else a[c] for c in ALERT_COLUMNS)


def decision_targets(decisions_topic: str, alerts_topic: str) -> dict[str, LoadTarget]:
    """The scorer's output topics into the `decisions` and `alerts` tables."""
    return {
        decisions_topic: LoadTarget(
            ("decisions",), DECISION_COLUMNS, lambda v: decision_row(json.loads(v or b""))
        ),
        alerts_topic: LoadTarget(("alerts",), ALERT_COLUMNS, lambda v: alert_row(json.loads(v or b""))),
    }


def change_targets(topics: Sequence[str]) -> dict[str, LoadTarget]:
    """CDC topics of captured tables ClickHouse keeps (`<prefix>.<schema>.<table>`, clickhouse/140, 141)
    into their current-state and history tables; a tombstone loads nothing."""
    from fraudlake.clickhouse.cdc_ingest import (
        ROW_COLUMNS,
        change_columns,
        change_tables,
        change_values,
        decode,
    )

    targets = {}
    for topic in topics:
        table = topic.rpartition(".")[2]
        if table not in ROW_COLUMNS:
            log.info("no ClickHouse table for this captured table: not loaded", extra={"topic": topic})
            continue

        def row(value: bytes | None, table: str = table) -> list[Any] | None:
            payload = decode(value)
            return None if payload is None else change_values(table, payload)

        targets[topic] = LoadTarget(change_tables(table), change_columns(table), row)
    return targets


class ClickHouseLoader(BackgroundThread):
    """Consumes the `targets`' topics (read_committed) into ClickHouse until stopped."""

    def __init__(
        self,
        bootstrap: str,
        group: str,
        targets: Mapping[str, LoadTarget],
        insert: Insert,
        name: str = "loader",
        batch_wait_seconds: float = 0.5,
        on_state: Callable[[str | None], None] | None = None,
    ) -> None:
        """`batch_wait_seconds`: how long a batch may wait for more messages (up to 1,000) before it is
        inserted: latency against the number of inserts ClickHouse has to merge. `on_state` hears when the
        loader starts failing (the error) and when it loads again (None)."""
        self.bootstrap, self.group, self.insert = bootstrap, group, insert
        self.batch_wait_seconds = batch_wait_seconds
        self.on_state = on_state
        self.targets = dict(targets)
        self.loaded = 0  # rows, counted once per topic message
        self.last_error: str | None = None  # why the last batch was not loaded (None after a loaded one)
        self.name = name
        super().__init__(f"clickhouse-{name}")

    def _state(self, error: str | None) -> None:
        # Recorded before `last_error` changes: whoever sees `failing()` finds the state written too.
        if error != self.last_error and self.on_state is not None:
            try:
                self.on_state(error)
            except Exception:  # the report is best effort; the loader's own retry goes on
                log.exception("could not record the loader's state", extra={"group": self.group})
        self.last_error = error

    def failing(self) -> bool:
        """Whether the last batch failed (the loader is retrying it)."""
        return self.last_error is not None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._consume()
            except Exception as error:
                # Nothing after the last commit counts as loaded: a new consumer starts from there.
                self._state(str(error))
                log.exception(
                    "ClickHouse load failed; retrying from the last committed offsets",
                    extra={"group": self.group, "error": self.last_error},
                )
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
        consumer.subscribe(list(self.targets))
        try:
            while not self._stop.is_set():
                messages = [m for m in consumer.consume(1000, self.batch_wait_seconds) if not m.error()]
                if messages:
                    self._load(messages)
                    consumer.commit(asynchronous=False)
                    self._state(None)
        finally:
            consumer.close()

    def _load(self, messages: list[Any]) -> None:
        batches: dict[str, list[Sequence[Any]]] = {topic: [] for topic in self.targets}
        for message in messages:
            row = self.targets[message.topic()].row(message.value())
            if row is not None:
                batches[message.topic()].append(row)
        for topic, rows in batches.items():
            if rows:
                target = self.targets[topic]
                for table in target.tables:
                    self.insert(table, rows, target.columns)
                self.loaded += len(rows)


LOAD_STATE_COLUMNS = ("loader", "healthy", "error", "at")


def load_state_recorder(insert: Insert, loader: str) -> Callable[[str | None], None]:
    """An `on_state` writing the loader's state changes to `cdc_load_state` (clickhouse/142), which the
    operator reads into the condition SourcesLoaded."""

    def record(error: str | None) -> None:
        insert(
            "cdc_load_state", [(loader, error is None, error or "", datetime.now(UTC))], LOAD_STATE_COLUMNS
        )

    return record


def clickhouse_insert(dsn: str, database: str) -> Insert:
    """An `Insert` into `<database>.<table>` over clickhouse-connect."""
    from fraudlake.clickhouse.client import connect

    client = connect(dsn, database)

    def insert(table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> None:
        client.insert(table, list(rows), column_names=list(columns), database=database)

    return insert
