"""The API's own request and response shapes around the scoring contract (`fraudlake.scoring.models`).

Their JSON Schema is the OpenAPI document, and the UI parses the API's answers with them: this module
imports pydantic and the scoring contract only (an import-linter contract keeps the UI to it).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from fraudlake.scoring.models import ScoreResult, TransactionIn

MAX_BATCH = 1000  # transactions per POST /v1/score/batch
SESSION_ID = r"^[A-Za-z0-9._:-]{1,64}$"  # agent sessions and alert ids
MAX_SQL_CHARS = 8000  # the guard's own limit (fraudlake.agent.sql_guard.MAX_SQL_CHARS)
NAMESPACE = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"  # a Kubernetes namespace
NAME = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"  # a Kubernetes object name


class ScoreResponse(ScoreResult):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "txn_id": "9f1c2a7b3d4e5f60718293a4b5c6d7e8", "score": 0.87, "decision": "decline",
        "reasons": [
            {"feature": "card_count_1h", "description": "transactions on this card in the previous 1h",
             "value": 7.0, "contribution": 1.92},
            {"feature": "graph_merchant_risk", "description": "graph risk of the merchant: its links to "
             "cards and merchants with confirmed fraud (GraphSAGE)", "value": 2.4, "contribution": 1.1},
        ],
        "rules_fired": [{"rule": "velocity_5m", "type": "Velocity",
                         "message": "12 transactions on this card within 5 minutes (rule: at least 11)"}],
        "request_id": "4b1d9c0e7a2f4e6b8c3d5a1f0e9b7c6d", "model_version": "20190228T235900Z-1a2b3c4d",
    }]})  # fmt: skip

    request_id: str
    model_version: str


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    transactions: list[TransactionIn] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description=f"Up to {MAX_BATCH} transactions, scored and added to the history in this order.",
    )
    reasons: Literal["flagged", "all", "none"] = Field(
        "flagged", description="Which results carry reasons: flagged (review/decline), all or none."
    )


class BatchResponse(BaseModel):
    request_id: str
    model_version: str
    decisions: dict[str, int] = Field(description="How many transactions got each decision.")
    results: list[ScoreResult] = Field(description="In the order of the request.")


# --- the fraud-analyst agent, its SQL and its notifications -----------------------------------------


class ChatRequest(BaseModel):
    message: str = Field(min_length=1, max_length=4000, description="The analyst's question.")
    session_id: str | None = Field(
        None, pattern=SESSION_ID, description="Continue a conversation; omit to start a new one."
    )


class DocumentSource(BaseModel):
    id: str = Field(
        description="Stable document id, e.g. alert:<id>, merchant:<id>, card:<id>, table:<name>."
    )
    kind: str
    excerpt: str


class SqlSource(BaseModel):
    sql: str = Field(description="The query as executed (qualified, limited).")
    columns: list[str]
    rows: list[list[Any]] = Field(description="The first rows of the result.")
    row_count: int
    truncated: bool = Field(description="The result reached the row limit; more rows may exist.")


class ScoreSource(BaseModel):
    txn_id: str
    score: float
    decision: str
    model_version: str


class Citations(BaseModel):
    documents: list[DocumentSource]
    sql: list[SqlSource]
    scores: list[ScoreSource]


class ChatResponse(BaseModel):
    request_id: str
    session_id: str
    answer: str
    offline: bool = Field(description="True when no language model wrote the answer (offline answerer).")
    provider: str = Field(description="bedrock:<model id> or offline.")
    citations: Citations
    notes: list[str]


class SqlRequest(BaseModel):
    sql: str = Field(
        min_length=1, max_length=MAX_SQL_CHARS, description="One SELECT over the pipeline's tables."
    )


class SqlResponse(BaseModel):
    request_id: str
    sql: str = Field(description="The query as executed (qualified, limited).")
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool


class NotificationResponse(BaseModel):
    request_id: str
    alert_id: str
    subject: str
    body: str
    offline: bool = Field(description="True when the offline template was used instead of the LLM.")
    provider: str = Field(description="bedrock:<model id> or offline.")
    sql: list[SqlSource] = Field(description="The queries that read the alert's facts.")
    notes: list[str]


# --- FraudPipeline resources ------------------------------------------------------------------------


class PipelineCondition(BaseModel):
    """One status condition, in Strimzi's shape."""

    type: str = Field(description="Ready, TopicsReady, ConnectorsReady, TablesReady or ReconciliationPaused.")
    status: str = Field(description="True, False or Unknown.")
    reason: str = Field("", description="One CamelCase word.")
    message: str = Field("", description="What happened, for a person.")
    last_transition_time: str = Field("", description="When the status last changed (UTC, RFC 3339).")


PIPELINE_EXAMPLE: dict[str, Any] = {
    "namespace": "fraud",
    "name": "cards",
    "created": "2026-11-30T09:12:44Z",
    "ready": False,
    "reason": "ConnectorNotRunning",
    "topics_ready": "4/4",
    "tables_ready": "13/13",
    "generation": 3,
    "observed_generation": 3,
    "up_to_date": True,
    "topics": ["fraudlake.fraud.cards.transactions", "fraudlake.fraud.cards.alerts"],
    "connector": "fraudlake-fraud-cards-lake",
    "database": "fraudlake",
    "tables": ["transactions", "alerts", "predictions"],
    "conditions": [
        {
            "type": "Ready",
            "status": "False",
            "reason": "ConnectorNotRunning",
            "message": "KafkaConnector fraudlake-fraud-cards-lake: task 0 FAILED",
            "last_transition_time": "2026-12-01T10:02:13Z",
        },
        {
            "type": "TopicsReady",
            "status": "True",
            "reason": "TopicsReady",
            "message": "4/4 topics ready",
            "last_transition_time": "2026-11-30T09:13:02Z",
        },
    ],
}


class Pipeline(BaseModel):
    """A FraudPipeline as `kubectl get fp` shows it, with its generations and conditions."""

    model_config = ConfigDict(json_schema_extra={"examples": [PIPELINE_EXAMPLE]})

    namespace: str
    name: str
    created: str = Field(description="metadata.creationTimestamp.")
    ready: bool = Field(description="The Ready condition is True (kubectl's READY column).")
    reason: str = Field(description="The Ready condition's reason; empty before the first reconcile.")
    topics_ready: str = Field(description="Ready topics / topics, e.g. 4/4 (kubectl's TOPICS column).")
    tables_ready: str = Field(description="Tables present / expected, e.g. 13/13 (kubectl's TABLES column).")
    generation: int | None = Field(description="metadata.generation: bumped by every spec change.")
    observed_generation: int | None = Field(description="The generation the operator last reconciled.")
    up_to_date: bool = Field(description="The operator has reconciled the latest spec.")
    topics: list[str] = Field(description="KafkaTopic names.")
    connector: str = Field(description="KafkaConnector name of the lake sink.")
    database: str = Field(description="ClickHouse database.")
    tables: list[str] = Field(description="ClickHouse tables and views present.")
    conditions: list[PipelineCondition]


class PipelineList(BaseModel):
    request_id: str
    namespace: str | None = Field(description="The namespace read; null for all namespaces.")
    items: list[Pipeline] = Field(description="Sorted by namespace, then name.")


# --- probes and errors ------------------------------------------------------------------------------


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    ready: bool
    model_version: str | None = None
    detail: str = ""


class FieldError(BaseModel):
    field: str = Field(description="The offending field, e.g. transactions[3].amount.")
    message: str


class ErrorBody(BaseModel):
    """Every 4xx/5xx body."""

    error: str = Field(description="Stable machine-readable code, e.g. validation_error, unauthorized.")
    message: str
    request_id: str
    fields: list[FieldError] | None = None
