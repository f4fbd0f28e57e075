"""clickhouse/*.sql rendering: order, idempotent forms, validation, and columns in step with the schemas."""

from __future__ import annotations

import re

import pytest

from fraudlake.clickhouse import migrations
from fraudlake.schemas.records import CARDS, TRANSACTIONS, USERS

pytestmark = pytest.mark.unit

CORE = [
    "transactions",
    "cards",
    "users",
    "load_ledger",
    "predictions",
    "alerts",
    "user_spending",
    "card_windows_10m",
    "rule_spend_burst_10m",
    "rule_velocity_5m",
    "decisions",
    "load_watermark",
    "case_rollup",
    "case_rollup_alerts_mv",
    "case_rollup_decisions_mv",
    "case_actions",
    "labels",
    "model_drift",
]
STREAMING = migrations.SchemaParams(
    "fp", streaming_ingest=True, kafka_bootstrap="k:9092", kafka_topic="fraudlake.ns.p.transactions"
)


def _columns(statement: str) -> dict[str, str]:
    code = "\n".join(line for line in statement.splitlines() if not line.lstrip().startswith("--"))
    body = code[code.index("(") + 1 : code.rindex("ENGINE")]
    columns = {}
    for line in body.splitlines():
        match = re.match(r"\s*(\w+)\s+(.+?)(?:\s+(?:DEFAULT|COMMENT)\b.*)?,?$", line)
        if match and not line.strip().startswith(("--", "COMMENT", ")")):
            columns[match.group(1)] = match.group(2).rstrip(",")
    return columns


def _create(statements: list[str], name: str) -> str:
    return next(s for s in statements if migrations.expected_objects([s]) == [name])


def test_files_are_numbered_and_shipped_in_the_package() -> None:
    names = [name for name, _ in migrations.template_files()]
    assert names == sorted(names)
    assert all(re.match(r"\d{3}_\w+\.sql$", n) for n in names)
    assert names[0] == "001_database.sql"


def test_default_rendering_creates_the_core_objects_idempotently() -> None:
    statements = migrations.render_statements(migrations.SchemaParams("fraud_demo"))
    assert (
        statements[0] == "-- One database per FraudPipeline (spec.clickhouse.database).\n"
        "CREATE DATABASE IF NOT EXISTS fraud_demo"
    )
    assert migrations.expected_objects(statements) == CORE
    for statement in statements:
        code = " ".join(line for line in statement.splitlines() if not line.lstrip().startswith("--"))
        if code.lstrip().startswith("ALTER"):
            # Migrations only add: every ADD is IF NOT EXISTS, nothing is dropped, changed or renamed.
            assert not re.search(r"\b(DROP|MODIFY|RENAME|CLEAR)\b", code), code
            assert len(re.findall(r"\bADD \w+ ", code)) == len(
                re.findall(r"\bADD \w+ IF NOT EXISTS", code)
            ), code
        else:
            idempotent = (
                r"DATABASE IF NOT EXISTS|TABLE IF NOT EXISTS|OR REPLACE VIEW|MATERIALIZED VIEW IF NOT EXISTS"
            )
            assert re.match(rf"\s*CREATE ({idempotent})", code), code
        assert "fraud_demo." in code or "DATABASE" in code
    assert "TTL" not in _create(statements, "transactions")


def test_transactions_engine_order_partition_and_ttl() -> None:
    statement = _create(
        migrations.render_statements(migrations.SchemaParams("fp", retention_days=30)), "transactions"
    )
    assert "ENGINE = ReplacingMergeTree(ingested_at)" in statement
    assert "ORDER BY (card_id, event_ts, txn_id)" in statement
    assert "PARTITION BY toYYYYMM(event_ts)" in statement
    assert "TTL toDateTime(event_ts) + INTERVAL 30 DAY" in statement
    assert _columns(statement)["event_ts"] == "DateTime64(3, 'UTC')"


@pytest.mark.parametrize(
    ("record", "table", "extra"),
    [
        (TRANSACTIONS, "transactions", {"ingested_at"}),
        (CARDS, "cards", {"version"}),
        (USERS, "users", {"version"}),
    ],
)
def test_table_columns_match_the_record_schemas(record, table: str, extra: set[str]) -> None:
    columns = _columns(_create(migrations.render_statements(migrations.SchemaParams("fp")), table))
    assert set(columns) - extra == set(record.names)
    for fld in record.fields:
        assert ("Nullable(" in columns[fld.name]) is fld.nullable, fld.name


def test_rules_render_one_view_each_and_disabled_rules_none() -> None:
    rules = (
        migrations.RuleParams("burst", "SpendBurst", 15, 3),
        migrations.RuleParams("fast", "Velocity", 1, 5, enabled=False),
    )
    statements = migrations.render_statements(migrations.SchemaParams("fp", rules=rules))
    assert "rule_burst" in migrations.expected_objects(statements)
    assert "rule_fast" not in migrations.expected_objects(statements)
    burst = _create(statements, "rule_burst")
    assert "INTERVAL 15 MINUTE" in burst
    assert "w.txn_count >= 3 AND w.total_amount > s.avg_amount" in burst


def test_streaming_ingest_adds_the_kafka_hot_path() -> None:
    statements = migrations.render_statements(STREAMING)
    objects = migrations.expected_objects(statements)
    hot_path = ["transactions_queue", "transactions_rt", "transactions_rt_mv"]
    first = objects.index(hot_path[0])
    assert objects[first : first + 3] == hot_path
    assert [name for name in objects if name not in hot_path] == CORE
    queue = _create(statements, "transactions_queue")
    assert "ENGINE = Kafka" in queue
    assert "kafka_broker_list = 'k:9092'" in queue
    assert "kafka_group_name = 'fraudlake-fp-rt'" in queue
    assert "CREATE TABLE IF NOT EXISTS fp.transactions_rt AS fp.transactions" in _create(
        statements, "transactions_rt"
    )


def test_string_settings_are_quoted() -> None:
    assert migrations.sql_string("it's \\ here") == "'it\\'s \\\\ here'"
    params = migrations.SchemaParams(
        "fp", streaming_ingest=True, kafka_bootstrap="k:1', x='y", kafka_topic="t"
    )
    assert "kafka_broker_list = 'k:1\\', x=\\'y'" in _create(
        migrations.render_statements(params), "transactions_queue"
    )


@pytest.mark.parametrize(
    "params",
    [
        migrations.SchemaParams("Fraud"),
        migrations.SchemaParams("fp; DROP DATABASE system"),
        migrations.SchemaParams("system"),
        migrations.SchemaParams("fp", retention_days=-1),
        migrations.SchemaParams("fp", streaming_ingest=True),
        migrations.SchemaParams("fp", rules=(migrations.RuleParams("Bad-Name", "Velocity", 5, 1),)),
    ],
)
def test_unsafe_parameters_are_refused(params: migrations.SchemaParams) -> None:
    with pytest.raises(migrations.SchemaParamsError):
        migrations.render_statements(params)


def test_split_statements_drops_comment_only_chunks() -> None:
    sql = "-- header\nCREATE TABLE a (x UInt8) ENGINE = Memory;\n-- only a comment;\n\nSELECT 1;"
    assert migrations.split_statements(sql) == [
        "-- header\nCREATE TABLE a (x UInt8) ENGINE = Memory",
        "SELECT 1",
    ]
