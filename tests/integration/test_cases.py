"""A case's life on the real stack: alerts and decisions written as the stream loader writes them into
the local ClickHouse server open a case; the API (real app, real ClickHouse over HTTP) lists it,
shows it, takes an analyst's disposition, and the disposition lands as analyst labels."""

from __future__ import annotations

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
