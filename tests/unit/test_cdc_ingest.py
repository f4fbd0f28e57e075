"""Debezium change events → rows of the bank's ClickHouse tables (fraudlake.clickhouse.cdc_ingest)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from fraudlake.clickhouse.cdc_ingest import change_row, decode

pytestmark = pytest.mark.unit

CARD = {
    "card_id": "c1",
    "user_id": "u1",
    "card_brand": "Visa",
    "card_type": "Credit",
    "credit_limit": 1001.0,
    "status": "blocked",
    "blocked_reason": "confirmed fraud",
    "replaces_card_id": None,
    "version": 2,
    "updated_at": "2026-12-05T23:40:38.936674Z",
    "contactless": True,  # a column added to the source table after the ClickHouse table was made
}
SOURCE = {"lsn": 30735560, "ts_ms": 1796514046572, "table": "cards"}


def test_update_becomes_a_current_row_versioned_by_its_wal_position() -> None:
    row = change_row("cards", {"op": "u", "before": None, "after": CARD, "source": SOURCE})
    assert row["card_id"] == "c1"
    assert (row["status"], row["blocked_reason"]) == ("blocked", "confirmed fraud")
    assert (row["lsn"], row["op"], row["is_deleted"], row["row_version"]) == (30735560, "u", 0, 2)
    assert row["updated_at"] == datetime(2026, 12, 5, 23, 40, 38, 936674, tzinfo=UTC)
    assert row["changed_at"] == datetime.fromtimestamp(1796514046.572, UTC)
    assert json.loads(row["row_json"])["contactless"] is True  # added columns flow, kept whole


def test_delete_keeps_the_key_and_marks_the_row_deleted() -> None:
    row = change_row("cards", {"op": "d", "before": {"card_id": "c2"}, "after": None, "source": SOURCE})
    assert (row["card_id"], row["is_deleted"], row["op"]) == ("c2", 1, "d")
    assert row["blocked_reason"] is None
    assert row["credit_limit"] == 0.0


def test_an_event_without_its_key_is_refused() -> None:
    with pytest.raises(ValueError, match="no user_id"):
        change_row("users", {"op": "c", "before": None, "after": {"person": "x"}, "source": SOURCE})


def test_decode_reads_the_schema_envelope_and_tombstones() -> None:
    assert decode(None) is None
    assert decode(json.dumps({"schema": {}, "payload": {"op": "r"}}).encode()) == {"op": "r"}
    assert decode(b'{"op": "c"}') == {"op": "c"}
