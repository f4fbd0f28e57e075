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


class BrokenSourceSchemaError(ValueError):
    """A row image without a column the tables are built on: it was renamed or dropped in the source."""


def change_row(table: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """One Debezium change event's payload as a row of bank_<table> (and its history).

    A row image lacking one of the table's columns is refused (BrokenSourceSchemaError): loading it would
    blank that column in the current state. A loader stops there until the mapping follows the source."""
    key, columns = ROW_COLUMNS[table]
    deleted = payload["op"] == "d"
    image = payload["before"] if deleted else payload["after"]
    if not image or image.get(key) is None:
        raise ValueError(f"{table} change {payload['op']!r} has no {key} in its row image")
    missing = [column for column in columns if column not in image]
    if missing and not deleted:  # a delete's image holds only the key
        raise BrokenSourceSchemaError(
            f"{table} change at lsn {payload['source']['lsn']} lacks column(s) {', '.join(missing)}:"
            f" renamed or dropped in the source database; bank_{table} cannot follow it"
        )
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
    data = [change_values(table, payload) for payload in payloads if payload is not None]
    if not data:
        return 0
    names = list(change_columns(table))
    for target in change_tables(table):
        client.insert(target, data, column_names=names, database=database)
    return len(data)


def change_tables(table: str) -> tuple[str, str]:
    """The ClickHouse tables a captured table's changes go to: current state and history."""
    return f"bank_{table}", f"bank_{table}_history"


def change_columns(table: str) -> tuple[str, ...]:
    return (*ROW_COLUMNS[table][1], *CHANGE_COLUMNS)


def change_values(table: str, payload: Mapping[str, Any]) -> list[Any]:
    """`change_row` as values in `change_columns` order."""
    row = change_row(table, payload)
    return [row[name] for name in change_columns(table)]


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
