"""Fixtures of the UI tests: a fake API client injected through `fraudlake.ui.deps`, and the app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from fraudlake.ui import deps
from fraudlake.ui.client import (
    ChatAnswer,
    ClientError,
    DocumentRef,
    EndpointMissingError,
    ModelSummary,
    NotificationDraft,
    PipelineCondition,
    PipelineStatus,
    Reason,
    RuleHit,
    ScoreResult,
    SqlTable,
)

APP = Path(__file__).resolve().parents[3] / "src" / "ui" / "app.py"

SCORE = ScoreResult(
    txn_id="t-1",
    score=0.91,
    decision="decline",
    model_version="v20260101",
    reasons=[
        Reason("amount_vs_card_mean", "Amount relative to the card's mean", 12.5, 1.8),
        Reason("card_txns_10m", "Card transactions in the last 10 minutes", 4.0, 0.9),
        Reason("mcc_fraud_rate", "Fraud rate of the merchant category", 0.001, -0.3),
    ],
    rules_fired=[RuleHit("burst", "SpendBurst", "4 transactions totalling $2,400 in 10 minutes")],
)
CHAT = ChatAnswer(
    session_id="s-1",
    answer="Merchant 42 had 7 frauds this week [merchant:42] [SQL].",
    offline=True,
    provider="offline",
    documents=[DocumentRef("merchant:42", "merchant", "Merchant 42: 7 frauds")],
    sql=[
        SqlTable(
            "SELECT merchant_id, count() FROM alerts GROUP BY merchant_id", ["merchant_id", "n"], [["42", 7]]
        )
    ],
)

TOP_MERCHANTS = SqlTable(
    "SELECT … FROM transactions",
    ["merchant", "city", "state", "frauds", "transactions"],
    [
        ["-4081055502050415153", "Monterey Park", "CA", 9, 120],
        ["7756457437662166501", "ONLINE", None, 7, 400],
    ],
)


class FakeClient:
    """Same methods as `FraudlakeClient`; `failures[method]` makes that method raise."""

    base_url = "http://fake-api"

    def __init__(self) -> None:
        self.failures: dict[str, ClientError] = {
            "sql": EndpointMissingError("/v1/sql"),
            "pipelines": EndpointMissingError("/v1/pipelines"),
        }
        self.calls: list[tuple[str, Any]] = []
        self.score_result = SCORE
        self.chat_answer = CHAT
        self.sql_table = SqlTable("SELECT 1", ["severity", "alerts"], [["high", 3]])
        self.pipeline_list = [
            PipelineStatus(
                name="atm",
                namespace="fraud",
                ready=False,
                reason="ConnectorNotRunning",
                topics_ready="4/4",
                tables_ready="13/13",
                generation=3,
                observed_generation=2,
                conditions=[
                    PipelineCondition(
                        "Ready", "False", "ConnectorNotRunning", "task 0 FAILED", "2026-12-01T10:02:13Z"
                    ),
                    PipelineCondition("TopicsReady", "True", "TopicsReady", "4/4 topics ready"),
                ],
            ),
            PipelineStatus(
                name="cards",
                namespace="fraud",
                ready=True,
                reason="Reconciled",
                generation=1,
                observed_generation=1,
                up_to_date=True,
                conditions=[PipelineCondition("Ready", "True", "Reconciled", "all parts ready")],
            ),
        ]

    def _call(self, name: str, arg: Any = None) -> None:
        self.calls.append((name, arg))
        if name in self.failures:
            raise self.failures[name]

    def model(self) -> ModelSummary:
        self._call("model")
        return ModelSummary("v20260101", "memory", {"review": 0.5, "decline": 0.8})

    def score(self, transaction: dict[str, Any]) -> ScoreResult:
        self._call("score", transaction)
        return self.score_result

    def chat(self, message: str, session_id: str | None = None) -> ChatAnswer:
        self._call("chat", (message, session_id))
        return self.chat_answer

    def draft_notification(self, alert_id: str) -> NotificationDraft:
        self._call("draft_notification", alert_id)
        return NotificationDraft(
            alert_id, "Unusual activity on your card", "Dear customer, …", True, "offline"
        )

    def sql(self, query: str) -> SqlTable:
        self._call("sql", query)
        return TOP_MERCHANTS if "merchant_city" in query else self.sql_table

    def pipelines(self) -> list[PipelineStatus]:
        self._call("pipelines")
        return self.pipeline_list


@pytest.fixture
def fake_client() -> Iterator[FakeClient]:
    fake = FakeClient()
    original = deps.client_factory
    deps.client_factory = lambda: fake
    yield fake
    deps.client_factory = original


@pytest.fixture
def app(fake_client: FakeClient) -> AppTest:
    """The app, not yet run (tests set up the fake first, then call `.run()`)."""
    return AppTest.from_file(str(APP), default_timeout=90)
