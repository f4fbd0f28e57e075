"""Rule backtests on the real ClickHouse engine (the session's chDB: one engine per process).

The backtest's per-transaction firings over generated transactions equal the online evaluation's
(`ServingState`, fed the same transactions in event-time order, history first); on a hand-made set
its counts are those worked out by hand, labels taking precedence over `is_fraud`; the API route
answers the same through the real app, and `fraudlake rules backtest` on the command line.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from clickhouse_connect.driver.client import Client
from fastapi.testclient import TestClient

from fraudlake.api.main import create_app
from fraudlake.api.settings import ApiSettings
from fraudlake.clickhouse import migrations
from fraudlake.clickhouse.client import connect
from fraudlake.local.stack.service import ServiceRecord
from fraudlake.ml.features import FeatureConfig
from fraudlake.ml.registry import MemoryStore, ModelRegistry
from fraudlake.pipeline.spec import SEED_RULES, Rule
from fraudlake.rule_backtest import runner
from fraudlake.schemas.records import TRANSACTIONS
from fraudlake.scoring.state import ServingState

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
TOKEN_KEY = b"rule-backtest-token-key-not-secret"
KEY = "integration-rule-backtest-key-4c1a"
# The seeds' rules and thresholds low enough to fire often on a small world: windows of one minute
# (ties at the same minute), an hour and a day, and a disabled rule that must never fire.
RULES = (
    *SEED_RULES,
    Rule(name="velocity_1m", type="Velocity", window_minutes=1, min_count=2),
    Rule(name="velocity_60m", type="Velocity", window_minutes=60, min_count=3),
    Rule(name="spend_burst_1d", type="SpendBurst", window_minutes=1440, min_count=3),
    Rule(name="spend_burst_30m", type="SpendBurst", window_minutes=30, min_count=2),
    Rule(name="off", type="Velocity", window_minutes=5, min_count=1, enabled=False),
)
COLUMNS = ["txn_id", "event_ts", "user_id", "card_id", "merchant_id", "amount", "use_chip", "mcc", "is_fraud"]
T0 = datetime(2026, 3, 2, tzinfo=UTC)


@pytest.fixture
def database(clickhouse: ServiceRecord) -> Iterator[str]:
    ch = connect(clickhouse.endpoints["dsn"])
    name = f"backtest_{uuid.uuid4().hex[:8]}"
    migrations.apply_schema(ch, migrations.render_statements(migrations.SchemaParams(name)))
    yield name
    migrations.drop_database(ch, name)


def _generated() -> pa.Table:
    from fraudlake.producer.entities import load_cards, load_users
    from fraudlake.producer.fraud_config import FraudConfig
    from fraudlake.producer.generator import GeneratorConfig, TransactionGenerator

    users = load_users().slice(0, 40)
    cards = load_cards(TOKEN_KEY)
    cards = cards.filter(pc.less(cards["user"], 40))
    config = GeneratorConfig(seed=5, start=date(2019, 3, 1), rows=8_000, fraud=FraudConfig(rate=0.03))
    generator = TransactionGenerator(config, users=users, cards=cards, token_key=TOKEN_KEY)
    return pa.concat_tables(list(generator.chunks())).select(TRANSACTIONS.names)


def _online_firings(records: list[dict[str, Any]], start_ms: int, end_ms: int) -> dict[str, tuple[str, ...]]:
    """Per transaction of [start, end): the rules the online state fires, history before it observed."""
    state = ServingState(FeatureConfig(), RULES)
    fired: dict[str, tuple[str, ...]] = {}
    history = [r for r in records if r["event_ms"] < start_ms]
    scored = [r for r in records if start_ms <= r["event_ms"] < end_ms]
    for record in history:
        state.observe(record)
    for i in range(0, len(scored), 500):
        batch = scored[i : i + 500]
        _, hits = state.score_inputs_many(batch)
        fired |= {r["txn_id"]: tuple(hit.rule for hit in h) for r, h in zip(batch, hits, strict=True)}
    return fired


def test_backtest_firings_equal_the_online_rules(clickhouse: ServiceRecord, database: str) -> None:
    table = _generated()
    ch = connect(clickhouse.endpoints["dsn"])
    ch.insert_arrow(f"{database}.transactions", table)
    records = table.to_pylist()
    for record in records:
        record["event_ms"] = round(record.pop("event_ts").timestamp() * 1000)
    records.sort(key=lambda r: (r["event_ms"], r["txn_id"]))
    # A range that starts mid-stream: the windows and the user's average reach into the history.
    first, last = records[0]["event_ms"], records[-1]["event_ms"]
    start_ms = first + (last - first) // 3
    start, end = (datetime.fromtimestamp(ms / 1000, UTC) for ms in (start_ms, last + 1))

    backtested = runner.firings(ch, database, RULES, start, end)
    online = _online_firings(records, start_ms, last + 1)

    assert [f.txn_id for f in backtested] == list(online)
    assert {f.txn_id: f.candidate for f in backtested} == online
    fired = [name for f in backtested for name in f.candidate]
    for rule in RULES[:-1]:  # every enabled rule of the test fires somewhere (but the seeds' velocity)
        assert rule.name in fired or rule.name == "velocity_5m", rule.name
    assert "off" not in fired
    # Ties at the same minute on a card: the later one counts the earlier, not the other way round.
    assert any("velocity_1m" in f.candidate for f in backtested)


def _txn(txn_id: str, card: str, minutes: float, amount: float, fraud: bool, user: str = "u1") -> list[Any]:
    return [txn_id, T0 + timedelta(minutes=minutes), user, card, "m1", amount, "Chip", 5411, fraud]


def _hand_made(ch: Client, database: str) -> None:
    rows = [
        # Card a, user u1: history before the range (the older one only in the user's average; a0
        # also in the windows of a1 and a2), then a burst.
        _txn("a_old", "1-0", -120, 10.0, False),
        _txn("a0", "1-0", -5, 10.0, False),
        _txn("a1", "1-0", 1, 10.0, False),  # a0, a1 in 10 min: $20 > the average $10 → burst
        _txn("a2", "1-0", 2, 50.0, True),  # a0-a2 in 10 min: $70 > $10 → burst and velocity_2
        _txn("a3", "1-0", 30, 5.0, True),  # alone in its windows: missed
        # Card b: user u2, two at the same minute: b1 sees b0 (txn id order), b0 does not see b1.
        _txn("b0", "2-0", 5, 100.0, False, "u2"),
        _txn("b1", "2-0", 5, 100.0, False, "u2"),  # labelled fraud by a chargeback
        _txn("b2", "2-0", 50, 1.0, True, "u2"),  # analyst says legitimate (over a chargeback)
        _txn("late", "1-0", 200, 1.0, True),  # after the range
    ]
    ch.insert(f"{database}.transactions", rows, column_names=COLUMNS)
    at = T0 + timedelta(days=3)
    labels = [
        ("b1", "2-0", 1, "chargeback", "", "bank", at),
        ("b2", "2-0", 1, "chargeback", "", "bank", at),
        ("b2", "2-0", 1, "analyst", "case-1", "ana", at - timedelta(days=1)),
        ("b2", "2-0", 0, "analyst", "case-1", "ana", at),  # the later disposition of the same source wins
    ]
    ch.insert(
        f"{database}.labels",
        labels,
        column_names=["txn_id", "card_id", "label", "source", "case_id", "actor", "known_at"],
    )


CANDIDATE = [
    Rule(name="burst", type="SpendBurst", window_minutes=10, min_count=2),
    Rule(name="velocity_2", type="Velocity", window_minutes=10, min_count=3),
]
CURRENT = [Rule(name="tie", type="Velocity", window_minutes=1, min_count=2)]


def test_backtest_counts_on_a_hand_made_set(clickhouse: ServiceRecord, database: str) -> None:
    ch = connect(clickhouse.endpoints["dsn"])
    _hand_made(ch, database)
    result = runner.backtest(ch, database, CANDIDATE, T0, T0 + timedelta(hours=2), CURRENT)

    # In range: a1 a2 a3 b0 b1 b2. Frauds: a2, a3 (is_fraud), b1 (chargeback); b2 is not (analyst).
    assert (result.transactions, result.frauds) == (6, 3)
    assert (result.analyst_labels, result.chargeback_labels) == (1, 1)
    burst, velocity = (r.outcome for r in result.candidate.rules)
    # burst: a1 ($20 > $10), a2 ($70 > $10), b1 ($200 > $100; b0 has no earlier user txn) → 2 frauds.
    assert (burst.alerts, burst.frauds_caught, burst.false_alarms, burst.frauds_missed) == (3, 2, 1, 1)
    assert burst.precision == pytest.approx(2 / 3)
    assert (velocity.alerts, velocity.frauds_caught, velocity.false_alarms) == (1, 1, 0)
    total = result.candidate.total
    assert (total.alerts, total.frauds_caught, total.false_alarms, total.frauds_missed) == (3, 2, 1, 1)
    # In force: tie fires on b1 only (b0 sees no earlier peer).
    assert result.current is not None
    assert result.change is not None
    assert (result.current.total.alerts, result.current.total.frauds_caught) == (1, 1)
    change = result.change
    assert (change.alerts, change.frauds_caught, change.false_alarms) == (2, 1, 1)
    assert (change.added_alerts, change.added_frauds_caught) == (2, 1)
    assert (change.dropped_alerts, change.dropped_frauds_caught) == (0, 0)

    firings = runner.firings(ch, database, CANDIDATE, T0, T0 + timedelta(hours=2), CURRENT)
    fired = {f.txn_id: (f.candidate, f.current, f.fraud, f.label_source) for f in firings}
    assert fired["b0"] == ((), (), False, "")
    assert fired["b1"] == (("burst",), ("tie",), True, "chargeback")
    assert fired["b2"] == ((), (), False, "analyst")


def test_backtest_route(clickhouse: ServiceRecord, database: str) -> None:
    ch = connect(clickhouse.endpoints["dsn"])
    _hand_made(ch, database)
    settings = ApiSettings(
        api_keys=KEY, clickhouse_dsn=clickhouse.endpoints["dsn"], clickhouse_database=database,
        model_poll_seconds=3600, startup_model_wait_seconds=0, cold_start_max_rows=0,
    )  # fmt: skip
    body = {
        "start": T0.isoformat(),
        "end": (T0 + timedelta(hours=2)).isoformat(),
        "rules": [r.model_dump(by_alias=True) for r in CANDIDATE],
        "current_rules": [r.model_dump(by_alias=True) for r in CURRENT],
    }
    with TestClient(create_app(settings, ModelRegistry(MemoryStore(), "models"))) as api:
        assert api.post("/v1/rules/backtest", json=body).status_code == 401
        answer = api.post("/v1/rules/backtest", json=body, headers={"X-API-Key": KEY})
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert (report["transactions"], report["frauds"], report["analyst_labels"]) == (6, 3, 1)
    assert [r["rule"]["name"] for r in report["candidate"]["rules"]] == ["burst", "velocity_2"]
    assert report["candidate"]["total"]["alerts"] == 3
    assert report["candidate"]["rules"][0]["false_alarms"] == 1
    assert report["change"]["added_alerts"] == 2


def test_backtest_command(clickhouse: ServiceRecord, database: str, tmp_path: Path) -> None:
    import yaml
    from typer.testing import CliRunner

    from fraudlake.cli import app

    ch = connect(clickhouse.endpoints["dsn"])
    _hand_made(ch, database)
    candidate, current = tmp_path / "candidate.yaml", tmp_path / "pipeline.yaml"
    candidate.write_text(yaml.safe_dump([r.model_dump(by_alias=True) for r in CANDIDATE]))
    pipeline = {"kind": "FraudPipeline", "spec": {"rules": [r.model_dump(by_alias=True) for r in CURRENT]}}
    current.write_text(yaml.safe_dump(pipeline))
    args = ["rules", "backtest", "--rules", str(candidate), "--current", str(current), "--database", database,
            "--start", T0.isoformat(), "--end", (T0 + timedelta(hours=2)).isoformat()]  # fmt: skip
    result = CliRunner().invoke(app, args, env={"FRAUDLAKE_CLICKHOUSE_DSN": clickhouse.endpoints["dsn"]})
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert (report["transactions"], report["frauds"]) == (6, 3)
    assert report["candidate"]["total"]["alerts"] == 3
    assert report["current"]["rules"][0]["rule"]["name"] == "tie"
    assert report["change"]["added_alerts"] == 2
