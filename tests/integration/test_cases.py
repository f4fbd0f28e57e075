"""A case's life on the real stack: alerts and decisions written as the stream loader writes them into
the local ClickHouse server open a case; the API (real app, real ClickHouse over HTTP) lists it,
shows it, takes an analyst's disposition, and the disposition lands as analyst labels."""

from __future__ import annotations

import dataclasses
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from clickhouse_connect.driver.client import Client
from fastapi.testclient import TestClient

from fraudlake.api.main import create_app
from fraudlake.api.models import ANALYST_HEADER
from fraudlake.api.settings import ApiSettings
from fraudlake.cases import logic, store
from fraudlake.cases import queue as case_queue
from fraudlake.clickhouse import migrations
from fraudlake.clickhouse.client import connect
from fraudlake.local.stack.service import ServiceRecord
from fraudlake.ml.registry import MemoryStore, ModelRegistry
from fraudlake.stream.loader import (
    ALERT_COLUMNS,
    DECISION_COLUMNS,
    alert_row,
    clickhouse_insert,
    decision_row,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
KEY = "integration-cases-key-5b2e9f"
AUTH = {"X-API-Key": KEY}
DAY = datetime(2026, 4, 7, tzinfo=UTC)


@pytest.fixture
def database(clickhouse: ServiceRecord) -> Iterator[str]:
    ch = connect(clickhouse.endpoints["dsn"])
    name = f"cases_{uuid.uuid4().hex[:8]}"
    migrations.apply_schema(ch, migrations.render_statements(migrations.SchemaParams(name)))
    yield name
    migrations.drop_database(ch, name)


@pytest.fixture
def api(clickhouse: ServiceRecord, database: str) -> Iterator[TestClient]:
    settings = ApiSettings(
        api_keys=KEY, clickhouse_dsn=clickhouse.endpoints["dsn"], clickhouse_database=database,
        model_poll_seconds=3600, startup_model_wait_seconds=0, cold_start_max_rows=0,
    )  # fmt: skip
    with TestClient(create_app(settings, ModelRegistry(MemoryStore(), "models"))) as client:
        yield client


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _alert(txn: str, card: str, merchant: str, at: datetime, source: str, score: float) -> dict[str, Any]:
    """An alerts-topic record, as fraudlake.api.sinks.alert_messages and the stream scorer produce."""
    return {
        "alert_id": uuid.uuid4().hex, "txn_id": txn, "card_id": card, "user_id": "u1",
        "merchant_id": merchant, "event_ts": _ms(at), "source": source, "score": score,
        "severity": "high", "status": "open",
        "message": f"{source} at {score:.3f}", "rules": [], "reasons": [],
    }  # fmt: skip


def _decision(
    txn: str, card: str, merchant: str, at: datetime, amount: float, score: float
) -> dict[str, Any]:
    return {
        "txn_id": txn, "card_id": card, "user_id": "u1", "merchant_id": merchant, "event_ts": _ms(at),
        "amount": amount, "model_version": "v1", "score": score, "decision": "decline",
        "reasons": [{"feature": "amount", "contribution": 1.2}], "rules_fired": [],
        "produced_ms": _ms(at), "decided_ms": _ms(at),
    }  # fmt: skip


def _labels(ch: Client, database: str) -> list[tuple[Any, ...]]:
    return ch.query(
        f"SELECT txn_id, label, source, case_id, actor FROM {database}.labels FINAL ORDER BY txn_id"
    ).result_rows


def test_alert_to_case_to_disposition_to_label(
    clickhouse: ServiceRecord, database: str, api: TestClient
) -> None:
    dsn = clickhouse.endpoints["dsn"]
    insert = clickhouse_insert(dsn, database)
    morning, evening = DAY + timedelta(hours=9), DAY + timedelta(hours=21)
    # Card 7-0: a model alert with its decline decision, a rule alert later that day, and one the next
    # day (another case). Card 8-0 shares a merchant: a linked case.
    insert("alerts", [alert_row(_alert("t1", "7-0", "m-shared", morning, "model", 0.93))], ALERT_COLUMNS)
    insert("decisions", [decision_row(_decision("t1", "7-0", "m-shared", morning, 1800.0, 0.93))],
           DECISION_COLUMNS)  # fmt: skip
    insert("alerts", [alert_row(_alert("t2", "7-0", "m-2", evening, "rule:burst", 0.2))], ALERT_COLUMNS)
    insert("alerts", [alert_row(_alert("t3", "7-0", "m-2", DAY + timedelta(days=1), "model", 0.6))],
           ALERT_COLUMNS)  # fmt: skip
    insert("alerts", [alert_row(_alert("t4", "8-0", "m-shared", morning, "model", 0.5))], ALERT_COLUMNS)

    queue = api.get("/v1/cases", params={"min_priority": 1}, headers=AUTH)
    assert queue.status_code == 200, queue.text
    cases = {c["case_id"]: c for c in queue.json()["cases"]}
    assert set(cases) == {"case-20260407-7-0", "case-20260408-7-0", "case-20260407-8-0"}
    case = cases["case-20260407-7-0"]
    assert (case["alerts"], case["max_amount"], case["sources"]) == (2, 1800.0, ["model", "rule:burst"])
    assert next(iter(cases)) == "case-20260407-7-0"  # the highest priority first

    detail = api.get("/v1/cases/case-20260407-7-0", headers=AUTH).json()
    assert [a["txn_id"] for a in detail["alerts"]] == ["t1", "t2"]
    assert detail["decisions"][0]["reasons"] == [{"feature": "amount", "contribution": 1.2}]
    assert {c["case_id"] for c in detail["linked"]} == {"case-20260408-7-0", "case-20260407-8-0"}

    analyst = AUTH | {ANALYST_HEADER: quote("Ana Lyst")}
    escalated = api.post(
        "/v1/cases/case-20260407-7-0/actions",
        json={"action": "escalate", "note": "big ticket"},
        headers=analyst,
    )
    assert escalated.status_code == 201, escalated.text
    assert _labels(connect(dsn), database) == []  # escalating labels nothing
    confirmed = api.post(
        "/v1/cases/case-20260407-7-0/actions",
        json={"action": "confirm_fraud", "note": "customer denied both"},
        headers=analyst,
    )
    assert confirmed.status_code == 201, confirmed.text

    assert _labels(connect(dsn), database) == [
        ("t1", 1, "analyst", "case-20260407-7-0", "Ana Lyst"),
        ("t2", 1, "analyst", "case-20260407-7-0", "Ana Lyst"),
    ]
    assert api.get("/v1/cases/labels", headers=AUTH).json() == {"analyst": 2, "chargeback": 0}
    trail = api.get("/v1/cases/case-20260407-7-0", headers=AUTH).json()["actions"]
    assert [(a["action"], a["status"], a["actor"]) for a in trail] == [
        ("escalate", "escalated", "Ana Lyst"), ("confirm_fraud", "confirmed_fraud", "Ana Lyst"),
    ]  # fmt: skip
    open_now = api.get("/v1/cases", headers=AUTH).json()["cases"]
    assert "case-20260407-7-0" not in {c["case_id"] for c in open_now}
    closed = api.post("/v1/cases/case-20260407-7-0/actions", json={"action": "not_fraud"}, headers=AUTH)
    assert closed.status_code == 409

    # A late alert of the same card and day joins the closed case (the window is the card's UTC day).
    insert("alerts", [alert_row(_alert("t5", "7-0", "m-9", evening, "model", 0.4))], ALERT_COLUMNS)
    done = api.get("/v1/cases", params={"status": "confirmed_fraud"}, headers=AUTH).json()["cases"]
    assert [(c["case_id"], c["alerts"]) for c in done] == [("case-20260407-7-0", 3)]


# The queue against a straightforward reference: every case merged from the raw alerts and flagged
# decisions, its status from its latest action, filtered and sorted in Python.
REFERENCE_CASES = """
    SELECT card_id, window_start, uniqExact(txn_id), max(score), max(amount), min(event_ts), max(event_ts),
           groupUniqArrayIf(source, source != '')
    FROM (SELECT card_id, toDateTime(toStartOfDay(event_ts, 'UTC'), 'UTC') AS window_start, txn_id, score,
                 toFloat64(0) AS amount, event_ts, toString(source) AS source
          FROM {db}.alerts
          UNION ALL
          SELECT card_id, toDateTime(toStartOfDay(event_ts, 'UTC'), 'UTC'), txn_id, score, amount, event_ts,
                 ''
          FROM {db}.decisions WHERE decision != 'approve' OR rules_fired NOT IN ('', '[]'))
    GROUP BY card_id, window_start"""
REFERENCE_STATUS = "SELECT case_id, argMax(status, at) FROM {db}.case_actions GROUP BY case_id"
# The decisions columns the rollup reads (clickhouse/110_decisions.sql), whatever else the loader adds.
FLAGGED_DECISION_COLUMNS = [
    "txn_id", "card_id", "user_id", "merchant_id", "event_ts", "amount", "model_version", "score", "decision",
    "reasons", "rules_fired", "produced_at", "decided_at",
]  # fmt: skip


def _naive(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(tzinfo=None) if at.tzinfo else at


def _reference_queue(ch: Client, database: str, wanted: store.QueueFilter) -> list[tuple[Any, ...]]:
    status = dict(ch.query(REFERENCE_STATUS.format(db=database)).result_rows)
    cases = []
    for card, start, alerts, score, amount, first, last, sources in ch.query(
        REFERENCE_CASES.format(db=database)
    ).result_rows:
        cid = logic.case_id(card, _utc(start))
        cases.append((cid, status.get(cid, "open"), logic.priority(score, amount), alerts, score, amount,
                      _naive(first), _naive(last), sorted(sources), card, _naive(start)))  # fmt: skip
    rule = wanted.source == "rule"
    kept = [
        c for c in cases
        if c[1] in wanted.statuses and c[2] >= wanted.min_priority
        and (not wanted.card_id or c[9] == wanted.card_id)
        and (not wanted.since or c[10] >= _naive(wanted.since))
        and (not wanted.source or wanted.source in c[8] or (rule and any(s[:5] == "rule:" for s in c[8])))
    ]  # fmt: skip
    kept.sort(key=lambda c: (-c[2], -c[7].timestamp(), c[9]))
    return [c[:9] for c in kept[: wanted.limit]]


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _as_rows(cases: list[store.CaseSummary]) -> list[tuple[Any, ...]]:
    return [(c.case_id, c.status, c.priority, c.alerts, c.max_score, c.max_amount, _naive(c.first_at),
             _naive(c.last_at), c.sources) for c in cases]  # fmt: skip


def _load_cases(ch: Client, database: str) -> None:
    """Four days of 30 cards: scores on a coarse grid (ties on the priority), amounts on some flagged
    decisions (a case's highest score and largest amount from different transactions), alerts
    delivered twice, an alert's status update (a newer row of the same alert), a decision reloaded."""
    rng = random.Random(26)
    alerts, decisions = [], []
    for n in range(600):
        card, day = f"{rng.randrange(30)}-0", DAY + timedelta(days=rng.randrange(4))
        at = day + timedelta(seconds=rng.randrange(86_400), milliseconds=rng.randrange(3) * 500)
        score = round(rng.random(), 2)
        source = rng.choice(["model", "model", "rule:burst", "rule:velocity"])
        alerts.append((f"a{n}", f"t{n}", card, "u1", f"m{rng.randrange(40)}", at, source, score, "high",
                       "open", "queue check"))  # fmt: skip
        if rng.random() < 0.3:
            amount = round(10 ** rng.uniform(0, 4.3), 2)
            decisions.append((f"t{n}", card, "u1", "m1", at, amount, "v1", round(rng.random(), 2), "review",
                              "[]", "[]", at, at))  # fmt: skip
    for batch in range(0, len(alerts), 50):  # many rollup rows per case, as the stream loader leaves
        ch.insert(f"{database}.alerts", alerts[batch : batch + 50], column_names=list(ALERT_COLUMNS))
    ch.insert(f"{database}.alerts", alerts[:80], column_names=list(ALERT_COLUMNS))  # re-delivered
    update = [(*a[:9], "notified", a[10]) for a in alerts[80:90]]
    ch.insert(f"{database}.alerts", update, column_names=list(ALERT_COLUMNS))
    for batch in range(0, len(decisions), 40):
        ch.insert(
            f"{database}.decisions", decisions[batch : batch + 40], column_names=FLAGGED_DECISION_COLUMNS
        )
    ch.insert(f"{database}.decisions", decisions[:20], column_names=FLAGGED_DECISION_COLUMNS)  # reloaded


Q = store.QueueFilter
QUEUES = [
    dataclasses.replace(wanted, limit=n)
    for n in (1, 3, 10, 50)
    for wanted in (
        Q(),
        Q(min_priority=60),
        Q(source="rule"),
        Q(source="model"),
        Q(source="rule:velocity"),
        Q(since=DAY + timedelta(days=2)),
        Q(card_id="7-0"),
        Q(statuses=("escalated",)),
        Q(statuses=("open",)),
        Q(statuses=("confirmed_fraud", "not_fraud")),
        Q(min_priority=50, source="rule", since=DAY + timedelta(days=1)),
    )
]


def test_queue_equals_the_reference_over_alerts_decisions_and_actions(
    clickhouse: ServiceRecord, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ch = connect(clickhouse.endpoints["dsn"])
    _load_cases(ch, database)
    cases = store.CaseStore(ch, database)
    ranked = cases.queue(store.QueueFilter(limit=12))
    at = datetime(2026, 5, 1, tzinfo=UTC)
    # An escalation, an escalation then a disposition (the status changes twice), a dismissal.
    cases.act(ranked[0].case_id, "escalate", "", "ana", at)
    cases.act(ranked[1].case_id, "escalate", "", "ana", at)
    cases.act(ranked[1].case_id, "confirm_fraud", "", "ana", at + timedelta(minutes=1))
    cases.act(ranked[5].case_id, "not_fraud", "", "bo", at)
    # Try the bounded queue whatever its candidates cost, and see that it answers queues itself.
    monkeypatch.setattr(case_queue, "MAX_CANDIDATE_SHARE", 1.0)
    answered = []
    bounded = store.CaseStore._bounded_queue

    def spy(self: store.CaseStore, *args: Any) -> list[store.CaseSummary] | None:
        found = bounded(self, *args)
        answered.append(found is not None)
        return found

    monkeypatch.setattr(store.CaseStore, "_bounded_queue", spy)
    for wanted in QUEUES:
        assert _as_rows(cases.queue(wanted)) == _reference_queue(ch, database, wanted), wanted
    # The card and closed-status queues always take the exact path; the others mostly the bounded one.
    assert any(answered), "the bounded queue answered none"
