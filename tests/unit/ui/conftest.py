"""Fixtures of the UI tests: a fake API client injected through `fraudlake.ui.deps`, and the app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from fraudlake.api.models import (
    PIPELINE_EXAMPLE,
    ChatResponse,
    DriftReport,
    ModelReport,
    NotificationResponse,
    Pipeline,
    ScoreResponse,
    SqlResponse,
)
from fraudlake.scoring.models import ModelInfo
from fraudlake.ui import deps
from fraudlake.ui.client import ClientError, EndpointMissingError

APP = Path(__file__).resolve().parents[3] / "src" / "ui" / "app.py"

# The fakes answer with the API's own models, built from bodies as the API sends them.
SCORE = ScoreResponse.model_validate(
    {
        "txn_id": "t-1",
        "score": 0.91,
        "decision": "decline",
        "request_id": "r-1",
        "model_version": "v20260101",
        "reasons": [
            {"feature": "amount_vs_card_mean", "description": "Amount relative to the card's mean",
             "value": 12.5, "contribution": 1.8},
            {"feature": "card_txns_10m", "description": "Card transactions in the last 10 minutes",
             "value": 4.0, "contribution": 0.9},
            {"feature": "mcc_fraud_rate", "description": "Fraud rate of the merchant category",
             "value": 0.001, "contribution": -0.3},
        ],
        "rules_fired": [
            {"rule": "burst", "type": "SpendBurst",
             "message": "4 transactions totalling $2,400 in 10 minutes"}
        ],
    }
)  # fmt: skip
MERCHANT_SQL = "SELECT merchant_id, count() FROM alerts GROUP BY merchant_id"
CHAT = ChatResponse.model_validate(
    {
        "request_id": "r-2",
        "session_id": "s-1",
        "answer": "Merchant 42 had 7 frauds this week [merchant:42] [SQL].",
        "offline": True,
        "provider": "offline",
        "citations": {
            "documents": [{"id": "merchant:42", "kind": "merchant", "excerpt": "Merchant 42: 7 frauds"}],
            "sql": [{"sql": MERCHANT_SQL, "columns": ["merchant_id", "n"], "rows": [["42", 7]],
                     "row_count": 1, "truncated": False}],
            "scores": [],
        },
        "notes": [],
    }
)  # fmt: skip
MODEL = ModelInfo.model_validate(
    {
        "version": "v20260101",
        "loaded_at": "2026-01-01T00:00:00Z",
        "source": "memory",
        "thresholds": {"review": 0.5, "decline": 0.8},
        "trained_on": {},
        "periods": {},
        "metrics": {},
        "features": 48,
    }
)


def _variant(key: str, label: str, auc_pr: float, served: bool = False, **extra: Any) -> dict[str, Any]:
    metrics = [{"name": "auc_pr", "value": auc_pr, "ci95": [auc_pr - 0.04, auc_pr + 0.03]}] + [
        {"name": name, "value": 0.5, "ci95": None} for name in ("roc_auc", "recall_at_p90", "recall_at_p95")
    ]
    body = {"key": key, "label": label, "description": f"{label} model", "served": served, "metrics": metrics,
            "auc_pr_difference_ci95": None, "compared_with": None, "gate": None}  # fmt: skip
    return body | extra


def _gate(auc_pr: float, note: str = "eligible") -> dict[str, Any]:
    return {"validation_auc_pr": auc_pr, "difference_ci95": [0.01, 0.08], "review_working": True,
            "eligible": note == "eligible", "note": note}  # fmt: skip


def _row(threshold: float, flagged: int, caught: int, bands: list[str] | None = None) -> dict[str, Any]:
    return {"threshold": threshold, "bands": bands or [], "flagged": flagged, "caught": caught,
            "missed": 80 - caught, "false_alarms": flagged - caught, "precision": caught / flagged,
            "recall": caught / 80}  # fmt: skip


# The API's report of a version that carries everything (evaluation.json schema 1).
MODEL_REPORT = ModelReport.model_validate(
    {
        "request_id": "r-5",
        "served": {"version": "v20260101", "model": "c_xgb_graph", "label": "(c)",
                   "reason": "best validation AUC-PR among eligible models: c_xgb_graph 0.775",
                   "servable": True, "validation_fraud_cards": 41},
        "test_period": {"start": "2019-02-01T00:00:00+00:00", "end": "2019-02-28T23:59:00+00:00",
                        "rows": 3000, "frauds": 80, "fraud_cards": 30},
        "variants": [
            _variant("a_rule", "(a)", 0.03),
            _variant("b_xgb_tabular", "(b)", 0.86, compared_with="a_rule",
                     auc_pr_difference_ci95=[0.8, 0.88], gate=_gate(0.70)),
            _variant("b_plus_xgb_aggregates", "(b+)", 0.87, compared_with="b_xgb_tabular",
                     auc_pr_difference_ci95=[-0.01, 0.02], gate=_gate(0.69)),
            _variant("c_xgb_graph", "(c)", 0.83, served=True, compared_with="b_xgb_tabular",
                     auc_pr_difference_ci95=[-0.09, -0.02], gate=_gate(0.775)),
        ],
        "pr_curves": [
            {"variant": key, "label": label, "auc_pr": 0.8, "recall": [0.0, 0.5, 1.0],
             "precision": [1.0, 0.8, 0.03]}
            for key, label in (("a_rule", "(a)"), ("b_xgb_tabular", "(b)"),
                               ("b_plus_xgb_aggregates", "(b+)"), ("c_xgb_graph", "(c)"))
        ],
        "feature_importance": [
            {"feature": "graph_card_risk", "description": "graph risk of the card", "group": "graph",
             "total_gain": 900.0, "gain": 30.0, "share": 0.45},
            {"feature": "amount_vs_card_mean", "description": "Amount relative to the card's mean",
             "group": "norm", "total_gain": 500.0, "gain": 12.0, "share": 0.25},
        ],
        "thresholds": [
            {"band": "review", "value": 0.028, "basis": "precision", "target_precision": 0.3,
             "capacity": None, "validation_precision": 0.36, "validation_recall": 0.94},
            {"band": "decline", "value": 0.909, "basis": "precision", "target_precision": 0.9,
             "capacity": None, "validation_precision": 0.93, "validation_recall": 0.53},
        ],
        "decision_table": [_row(0.01, 180, 79), _row(0.028, 177, 79, ["review"]), _row(0.5, 67, 56),
                           _row(0.909, 49, 44, ["decline"]), _row(0.99, 9, 9)],
        "evaluation_schema": 1,
        "notes": [],
    }
)  # fmt: skip


def sql_answer(sql: str, columns: list[str], rows: list[list[Any]]) -> SqlResponse:
    return SqlResponse(request_id="r-3", sql=sql, columns=columns, rows=rows, truncated=False)


def pipeline(namespace: str, name: str, **status: Any) -> Pipeline:
    """A pipeline as the API shows it: the example's facts with `status` fields replaced."""
    blank = {"ready": False, "reason": "", "topics_ready": "", "tables_ready": "",
             "observed_generation": None, "up_to_date": False, "conditions": []}  # fmt: skip
    return Pipeline.model_validate(PIPELINE_EXAMPLE | blank | {"namespace": namespace, "name": name} | status)


def condition(type_: str, status: str, reason: str, message: str, when: str = "") -> dict[str, str]:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "last_transition_time": when,
    }


TOP_MERCHANTS = sql_answer(
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
        self.report = MODEL_REPORT
        self.drift: DriftReport | None = None  # no drift report yet
        self.sql_table = sql_answer("SELECT 1", ["severity", "alerts"], [["high", 3]])
        self.pipeline_list = [
            pipeline(
                "fraud",
                "atm",
                reason="ConnectorNotRunning",
                topics_ready="4/4",
                tables_ready="13/13",
                generation=3,
                observed_generation=2,
                conditions=[
                    condition(
                        "Ready", "False", "ConnectorNotRunning", "task 0 FAILED", "2026-12-01T10:02:13Z"
                    ),
                    condition("TopicsReady", "True", "TopicsReady", "4/4 topics ready"),
                ],
            ),
            pipeline(
                "fraud",
                "cards",
                ready=True,
                reason="Reconciled",
                generation=1,
                observed_generation=1,
                up_to_date=True,
                conditions=[condition("Ready", "True", "Reconciled", "all parts ready")],
            ),
        ]

    def _call(self, name: str, arg: Any = None) -> None:
        self.calls.append((name, arg))
        if name in self.failures:
            raise self.failures[name]

    def model(self) -> ModelInfo:
        self._call("model")
        return MODEL

    def model_report(self) -> ModelReport:
        self._call("model_report")
        return self.report

    def model_drift(self) -> DriftReport | None:
        self._call("model_drift")
        return self.drift

    def score(self, transaction: dict[str, Any]) -> ScoreResponse:
        self._call("score", transaction)
        return self.score_result

    def chat(self, message: str, session_id: str | None = None) -> ChatResponse:
        self._call("chat", (message, session_id))
        return self.chat_answer

    def draft_notification(self, alert_id: str) -> NotificationResponse:
        self._call("draft_notification", alert_id)
        return NotificationResponse(
            request_id="r-4",
            alert_id=alert_id,
            subject="Unusual activity on your card",
            body="Dear customer, …",
            offline=True,
            provider="offline",
            sql=[],
            notes=[],
        )

    def sql(self, query: str) -> SqlResponse:
        self._call("sql", query)
        return TOP_MERCHANTS if "merchant_city" in query else self.sql_table

    def pipelines(self) -> list[Pipeline]:
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
