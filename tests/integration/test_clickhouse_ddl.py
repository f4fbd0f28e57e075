"""clickhouse/*.sql executed by the real ClickHouse engine (chDB): idempotence, real rows, rule views.

The session's `clickhouse` fixture owns the process's one chDB engine; every test uses its DSN and
a database of its own.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from clickhouse_connect.driver.client import Client

from fraudlake.clickhouse import migrations
from fraudlake.clickhouse.client import connect
from fraudlake.local.stack.service import ServiceRecord
from fraudlake.producer.csv_reader import KaggleTransactionReader
from fraudlake.producer.entities import CardDirectory, load_cards, tabformer_dir
from fraudlake.schemas.envelope import JsonEncoder
from fraudlake.schemas.records import TRANSACTIONS

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ch(clickhouse: ServiceRecord) -> Client:
    return connect(clickhouse.endpoints["dsn"])


@pytest.fixture
def database(ch: Client) -> Iterator[str]:
    name = f"ddl_{uuid.uuid4().hex[:8]}"
    yield name
    migrations.drop_database(ch, name)


@pytest.fixture(scope="module")
def user0() -> pa.Table:
    """The first rows of the real User0 stream, decoded by the producer's reader (typed TRANSACTIONS)."""
    cards = load_cards(b"test-token-key-0123456789abcdef!")
    reader = KaggleTransactionReader(
        tabformer_dir() / "User0_credit_card_transactions.csv", CardDirectory.from_cards(cards)
    )
    return next(reader.batches()).slice(0, 2000)


def _txn(card: str, user: str, ts: datetime, amount: float) -> dict:
    return {"txn_id": uuid.uuid4().hex, "event_ts": ts, "user_id": user, "card_id": card, "amount": amount}


def test_schema_applies_twice_and_everything_is_there(ch: Client, database: str) -> None:
    statements = migrations.render_statements(migrations.SchemaParams(database))
    expected = migrations.expected_objects(statements)
    assert migrations.missing_tables(ch, database, expected) == expected
    migrations.apply_schema(ch, statements)
    migrations.apply_schema(ch, statements)
    assert migrations.missing_tables(ch, database, expected) == []
    assert migrations.missing_tables(ch, database) == []


def test_the_producers_rows_load_as_they_are(ch: Client, database: str, user0: pa.Table) -> None:
    migrations.apply_schema(ch, migrations.render_statements(migrations.SchemaParams(database)))
    ch.insert_arrow(f"{database}.transactions", user0)
    row = ch.query(
        f"SELECT count(), uniqExact(txn_id), round(sum(amount), 2), countIf(is_fraud), "
        f"countIf(merchant_state IS NULL), toUnixTimestamp64Milli(min(event_ts)) FROM {database}.transactions"
    ).result_rows[0]
    amounts = user0.column("amount").to_pylist()
    assert row[:4] == (2000, 2000, round(sum(amounts), 2), sum(user0.column("is_fraud").to_pylist()))
    assert row[4] == user0.column("merchant_state").null_count
    assert row[5] == min(user0.column("event_ts").cast(pa.int64()).to_pylist())
    # A replay of the same rows collapses on the ReplacingMergeTree key.
    ch.insert_arrow(f"{database}.transactions", user0)
    assert ch.command(f"SELECT count() FROM {database}.transactions FINAL") == 2000


def test_the_seed_rules_fire_on_their_patterns(ch: Client, database: str) -> None:
    migrations.apply_schema(ch, migrations.render_statements(migrations.SchemaParams(database)))
    t0 = datetime(2019, 3, 4, 10, 0, tzinfo=UTC)
    rows = [_txn("u1-0", "u1", t0 - timedelta(days=d), 20.0) for d in range(1, 9)]  # u1 spends ~$20
    rows += [_txn("u1-0", "u1", t0 + timedelta(minutes=m), 90.0) for m in (1, 4)]  # 2 in 10 min, $180
    for user in ("u2", "u3"):  # u2 and u3 usually spend ~$50, so small bursts stay below average
        rows += [_txn(f"{user}-0", user, t0 - timedelta(days=d), 50.0) for d in range(1, 9)]
    rows += [_txn("u2-0", "u2", t0 + timedelta(seconds=20 * i), 1.0) for i in range(11)]  # 11 in 5 min
    rows += [_txn("u3-0", "u3", t0 + timedelta(seconds=20 * i), 1.0) for i in range(10)]  # 10: no alert
    columns = list(rows[0])
    ch.insert(f"{database}.transactions", [[r[c] for c in columns] for r in rows], column_names=columns)

    burst = ch.query(
        f"SELECT card_id, txn_count, total_amount FROM {database}.rule_spend_burst_10m"
    ).result_rows
    assert burst == [("u1-0", 2, 180.0)]
    velocity = ch.query(f"SELECT card_id, txn_count FROM {database}.rule_velocity_5m").result_rows
    assert velocity == [("u2-0", 11)]
    windows = ch.query(
        f"SELECT txn_count, user_avg_amount FROM {database}.card_windows_10m "
        f"WHERE card_id = 'u1-0' AND window_start = toDateTime64('2019-03-04 10:00:00', 3, 'UTC')"
    ).result_rows
    assert windows == [(2, pytest.approx((8 * 20 + 180) / 10))]


def test_rule_changes_replace_and_drop_views(ch: Client, database: str) -> None:
    migrations.apply_schema(ch, migrations.render_statements(migrations.SchemaParams(database)))
    rules = (migrations.RuleParams("velocity_5m", "Velocity", window_minutes=5, min_count=3),)
    statements = migrations.render_statements(migrations.SchemaParams(database, rules=rules))
    migrations.apply_schema(ch, statements)
    assert migrations.drop_stale_rule_views(ch, database, statements) == ["rule_spend_burst_10m"]
    query = ch.command(
        f"SELECT create_table_query FROM system.tables WHERE database = '{database}' "
        "AND name = 'rule_velocity_5m'"
    )
    assert "txn_count >= 3" in query


def test_retention_follows_the_spec(ch: Client, database: str) -> None:
    migrations.apply_schema(
        ch, migrations.render_statements(migrations.SchemaParams(database, retention_days=30))
    )
    assert migrations.sync_retention(ch, database, 30) == []
    assert migrations.sync_retention(ch, database, 90) == ["transactions"]
    engine = ch.command(
        f"SELECT engine_full FROM system.tables WHERE database = '{database}' AND name = 'transactions'"
    )
    assert "toIntervalDay(90)" in engine
    assert migrations.sync_retention(ch, database, 0) == ["transactions"]
    assert migrations.sync_retention(ch, database, 0) == []


def test_streaming_ingest_is_refused_on_chdb(ch: Client, database: str) -> None:
    params = migrations.SchemaParams(
        database, streaming_ingest=True, kafka_bootstrap="127.0.0.1:9", kafka_topic="t"
    )
    with pytest.raises(migrations.StreamingIngestUnsupportedError, match="streamingIngest"):
        migrations.apply_schema(ch, migrations.render_statements(params))
    assert migrations.existing_objects(ch, database) == set()  # nothing was run


def test_hot_path_view_decodes_the_producers_messages(ch: Client, database: str, user0: pa.Table) -> None:
    # The Kafka engine cannot run in chDB, so the queue becomes a Null table: inserting the
    # producer's real JsonConverter envelopes into it drives the materialized view the same way.
    params = migrations.SchemaParams(
        database, streaming_ingest=True, kafka_bootstrap="127.0.0.1:9", kafka_topic="t"
    )
    statements = [
        re.sub(r"ENGINE = Kafka\s+SETTINGS.*", "ENGINE = Null", s, flags=re.DOTALL)
        for s in migrations.render_statements(params)
    ]
    migrations.apply_schema(ch, statements)
    batch = user0.slice(0, 300)
    expected = (
        batch.set_column(1, "event_ts", batch.column("event_ts").cast(pa.int64()))
        .sort_by("txn_id")
        .to_pylist()
    )
    for envelope in (True, False):  # Kafka Connect's {"schema", "payload"} envelope, and bare JSON
        ch.command(f"TRUNCATE TABLE {database}.transactions_rt")
        messages = JsonEncoder(TRANSACTIONS, envelope=envelope).encode(batch)
        ch.insert(f"{database}.transactions_queue", [[m] for m in messages], column_names=["raw"])
        got = ch.query(
            f"SELECT * EXCEPT (ingested_at) REPLACE (toUnixTimestamp64Milli(event_ts) AS event_ts) "
            f"FROM {database}.transactions_rt FINAL ORDER BY txn_id"
        )
        assert [dict(zip(got.column_names, row, strict=True)) for row in got.result_rows] == expected
