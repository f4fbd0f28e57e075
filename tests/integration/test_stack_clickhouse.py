"""The stack's ClickHouse: the real engine in this process through chDB and our client.

chDB allows one engine (one data path) per process and the session's `clickhouse` fixture owns
it: every test here connects with the fixture's DSN. Opening a second chdb:// path in the same
process fails with "EmbeddedServer already initialized" (DESIGN §12), so no test may use its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from fraudlake.clickhouse.client import connect
from fraudlake.local.stack.service import ServiceRecord

pytestmark = pytest.mark.integration


@pytest.fixture
def database(clickhouse: ServiceRecord) -> Iterator[str]:
    name = f"itest_{uuid.uuid4().hex[:8]}"
    client = connect(clickhouse.endpoints["dsn"])
    client.command(f"CREATE DATABASE {name}")
    yield name
    client.command(f"DROP DATABASE IF EXISTS {name}")


def test_merge_tree_insert_and_query(clickhouse: ServiceRecord, database: str) -> None:
    client = connect(clickhouse.endpoints["dsn"], database=database)
    client.command(
        "CREATE TABLE transactions (card_id String, event_ts DateTime64(3, 'UTC'), amount Decimal(12, 2)) "
        "ENGINE = MergeTree ORDER BY (card_id, event_ts)"
    )
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        ["card-1", t0, Decimal("10.50")],
        ["card-1", t0 + timedelta(minutes=1), Decimal("4.50")],
        ["card-2", t0, Decimal("99.00")],
    ]
    client.insert("transactions", rows, column_names=["card_id", "event_ts", "amount"])
    per_card = client.query(
        "SELECT card_id, count(), sum(amount) FROM transactions GROUP BY card_id ORDER BY card_id"
    ).result_rows
    assert per_card == [("card-1", 2, Decimal("15.00")), ("card-2", 1, Decimal("99.00"))]


def test_clients_on_the_fixture_path_share_one_engine(clickhouse: ServiceRecord, database: str) -> None:
    writer = connect(clickhouse.endpoints["dsn"], database=database)
    writer.command("CREATE TABLE seen (txn_id UInt64) ENGINE = MergeTree ORDER BY txn_id")
    writer.insert("seen", [[1], [2], [3]], column_names=["txn_id"])
    reader = connect(clickhouse.endpoints["dsn"], database=database)
    assert reader.query("SELECT count() FROM seen").result_rows == [(3,)]
