"""Debezium change events of the bank's users and cards into ClickHouse (clickhouse/140, 141).

Every event becomes one row of the current-state table (bank_<table>, ReplacingMergeTree by the
change's WAL position, deletes as is_deleted rows) and one of the history table. Delivery is at least
once: offsets are committed after the insert, and a change delivered again (a consumer or a Kafka
Connect restart) carries the same source.lsn, so it collapses into the row it repeats.

A column added to the source table arrives in the events at once (pgoutput sends the current row
shape); it is kept in row_json until the table grows a column for it. Tombstones (the null record
after a delete, for Kafka's compaction) carry nothing the delete did not, and are skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

# Captured table → (key column, the columns of bank_<table> that come from the row image).
ROW_COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "cards": (
        "card_id",
        (
            "card_id", "user_id", "card_brand", "card_type", "credit_limit", "status", "blocked_reason",
            "replaces_card_id",
        ),
    ),
    "users": ("user_id", ("user_id", "person", "address", "city", "state", "zipcode")),
}  # fmt: skip
CHANGE_COLUMNS = ("row_version", "updated_at", "row_json", "lsn", "op", "changed_at", "is_deleted")
_EMPTY = {"credit_limit": 0.0}  # a deleted row's image holds only its key; the rest takes these


def change_row(table: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """One Debezium change event's payload as a row of bank_<table> (and its history)."""
    key, columns = ROW_COLUMNS[table]
    deleted = payload["op"] == "d"
    image = payload["before"] if deleted else payload["after"]
    if not image or image.get(key) is None:
        raise ValueError(f"{table} change {payload['op']!r} has no {key} in its row image")
    row = {column: image.get(column, _EMPTY.get(column, "")) for column in columns}
    for column in ("blocked_reason", "replaces_card_id"):
        if column in row and row[column] == "":
            row[column] = None  # nullable columns stay null when the image lacks them
    source = payload["source"]
    row |= {
        "row_version": int(image.get("version") or 0),
        "updated_at": _timestamp(image.get("updated_at")),
        "row_json": json.dumps(image, sort_keys=True),
        "lsn": int(source["lsn"]),
        "op": payload["op"],
        "changed_at": datetime.fromtimestamp(int(source["ts_ms"]) / 1000, UTC),
        "is_deleted": 1 if deleted else 0,
    }
    return row


def insert_changes(
    client: Client, database: str, table: str, payloads: Iterable[Mapping[str, Any] | None]
) -> int:
    """Insert the change events (None: a tombstone, skipped) into bank_<table> and its history; the
    number of changes inserted."""
    rows = [change_row(table, payload) for payload in payloads if payload is not None]
    if not rows:
        return 0
    names = [*ROW_COLUMNS[table][1], *CHANGE_COLUMNS]
    data = [[row[name] for name in names] for row in rows]
    for target in (f"bank_{table}", f"bank_{table}_history"):
        client.insert(target, data, column_names=names, database=database)
    return len(rows)


def decode(value: bytes | None) -> dict[str, Any] | None:
    """A record value of the Connect worker's JSON converter (with or without the schema envelope)."""
    if value is None:
        return None
    record = json.loads(value)
    return record["payload"] if isinstance(record, dict) and "schema" in record else record


def _timestamp(value: Any) -> datetime | None:
    # time.precision.mode=connect still sends timestamptz as Debezium's ZonedTimestamp: ISO-8601 text.
    if value in (None, ""):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, UTC)
    return datetime.fromisoformat(str(value)).astimezone(UTC)
