"""The API's own request and response shapes around the scoring contract (`fraudlake.scoring.models`).

Their JSON Schema is the OpenAPI document, and the UI parses the API's answers with them: this module
imports pydantic and the scoring contract only (an import-linter contract keeps the UI to it).
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import unquote

from pydantic import BaseModel, ConfigDict, Field

from fraudlake.scoring.models import ScoreResult, TransactionIn

MAX_BATCH = 1000  # transactions per POST /v1/score/batch
SESSION_ID = r"^[A-Za-z0-9._:-]{1,64}$"  # agent sessions and alert ids
MAX_SQL_CHARS = 8000  # the guard's own limit (fraudlake.agent.sql_guard.MAX_SQL_CHARS)
NAMESPACE = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"  # a Kubernetes namespace
NAME = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"  # a Kubernetes object name
# The analyst a console acts for (fraudlake.ui.identity): percent-encoded UTF-8, recorded, never trusted
# for access (the API key is the credential).
ANALYST_HEADER = "X-Fraudlake-Analyst"
MAX_ANALYST_CHARS = 254  # an e-mail address at most


def analyst_from_header(raw: str | None) -> str | None:
    """The analyst named by an ANALYST_HEADER value; ValueError when it is not a readable name."""
    if raw is None or not raw.strip():
        return None
    problem = (
        f"{ANALYST_HEADER} must be a percent-encoded printable name of at most {MAX_ANALYST_CHARS} characters"
    )
    try:
        name = unquote(raw.strip(), errors="strict")
    except UnicodeDecodeError:
        raise ValueError(problem) from None
    if len(name) > MAX_ANALYST_CHARS or not name.isprintable():
        raise ValueError(problem)
    return name


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


# --- the served model's report: how the candidate models compare and what the thresholds do ----------

VariantKey = Literal["a_rule", "b_xgb_tabular", "b_plus_xgb_aggregates", "c_xgb_graph"]
MetricName = Literal["auc_pr", "roc_auc", "recall_at_p90", "recall_at_p95"]


class MetricValue(BaseModel):
    name: MetricName = Field(
        description="auc_pr (average precision), roc_auc, recall_at_p90 / recall_at_p95 (recall at 90% /"
        " 95% precision)."
    )
    value: float | None = Field(description="On the test period; null when undefined (no fraud).")
    ci95: list[float] | None = Field(
        None,
        min_length=2,
        max_length=2,
        description="95% card-bootstrap interval [low, high] (training computes it for auc_pr only).",
    )


class GateVerdict(BaseModel):
    """What the training gate said of a candidate, on the validation period."""

    validation_auc_pr: float | None
    difference_ci95: list[float] | None = Field(
        description="95% card-bootstrap interval of its validation AUC-PR minus (b)'s; null for (b)."
    )
    review_working: bool = Field(description="Its review threshold catches fraud on validation.")
    eligible: bool
    note: str


class VariantReport(BaseModel):
    key: VariantKey
    label: str = Field(description="Short name: (a), (b), (b+), (c).")
    description: str
    served: bool = Field(description="The training gate chose this model: it is the one being served.")
    metrics: list[MetricValue] = Field(description="Test-period metrics with their intervals.")
    auc_pr_difference_ci95: list[float] | None = Field(
        description="Test AUC-PR minus the model it is compared with ((b) for (b+) and (c), (a) for (b)),"
        " 95% card-bootstrap interval; null for (a)."
    )
    compared_with: VariantKey | None
    gate: GateVerdict | None = Field(
        description="The gate's verdict on validation; null for (a), not a candidate."
    )


class ServedChoice(BaseModel):
    version: str
    model: VariantKey | None = Field(description="The gate's choice.")
    label: str | None
    reason: str | None = Field(description="Why the gate served it, in the gate's words.")
    servable: bool | None = Field(description="The served model has a working review threshold.")
    validation_fraud_cards: int | None = Field(
        description="Defrauded cards in validation (the gate's evidence)."
    )


class EvaluationPeriod(BaseModel):
    start: str | None
    end: str | None
    rows: int | None
    frauds: int | None
    fraud_cards: int | None


class PrCurve(BaseModel):
    variant: VariantKey
    label: str
    auc_pr: float | None
    recall: list[float] = Field(description="Increasing; the same length as precision.")
    precision: list[float]


class FeatureImportance(BaseModel):
    feature: str
    description: str
    group: str = Field(description="transaction, velocity, norm, novelty, risk or graph.")
    total_gain: float = Field(description="Total gain of the feature's splits over the served booster.")
    gain: float = Field(description="Average gain per split.")
    share: float = Field(description="Its share of the total gain of all features.")


class BandThreshold(BaseModel):
    band: Literal["review", "decline"]
    value: float | None = Field(description="Calibrated probability ≥ value; null: the band is off.")
    basis: Literal["precision", "capacity"] | None
    target_precision: float | None = Field(description="The precision the band was set to reach.")
    capacity: float | None = Field(description="Share of transactions a capacity queue holds.")
    validation_precision: float | None
    validation_recall: float | None


class DecisionRow(BaseModel):
    """What one threshold on the served model's calibrated probability does on the test period."""

    threshold: float
    bands: list[Literal["review", "decline"]] = Field(description="The bands set at this threshold.")
    flagged: int = Field(description="Transactions at or above the threshold.")
    caught: int = Field(description="Frauds at or above it.")
    missed: int = Field(description="Frauds below it.")
    false_alarms: int = Field(description="Legitimate transactions at or above it.")
    precision: float | None
    recall: float | None


class ModelReport(BaseModel):
    """The served model's report card: the candidates compared, why this one serves, what its thresholds
    do on the test period. Pieces an older model version does not carry are null, and `notes` says why."""

    request_id: str
    served: ServedChoice
    test_period: EvaluationPeriod
    variants: list[VariantReport]
    pr_curves: list[PrCurve] | None = Field(
        description="Test-period precision-recall curves (a few hundred points each); null for a version"
        " trained before evaluation.json."
    )
    feature_importance: list[FeatureImportance] = Field(description="The served booster's top features.")
    thresholds: list[BandThreshold]
    decision_table: list[DecisionRow] = Field(
        description="By threshold, ascending: a grid of candidate thresholds and the review/decline"
        " thresholds; for a version trained before evaluation.json, the review/decline rows only."
    )
    evaluation_schema: int | None = Field(
        description="schema_version of the version's evaluation.json; null: it has none."
    )
    notes: list[str] = Field(description="What this version does not carry, and anything else to know.")


# --- probes and errors ------------------------------------------------------------------------------


# -- /v1/cases ------------------------------------------------------------------------------------------
# Mirrors fraudlake.cases.logic (this module imports no package but pydantic and the scoring contract;
# tests/unit/cases checks the two agree).
CASE_ID = r"^case-\d{8}-[A-Za-z0-9_.:-]{1,64}$"  # case-<yyyymmdd of the UTC day>-<card_id>
CaseStatus = Literal["open", "escalated", "confirmed_fraud", "not_fraud"]
CaseActionName = Literal["confirm_fraud", "not_fraud", "escalate"]
MAX_CASE_NOTE_CHARS = 2000


class CaseSummary(BaseModel):
    """One case: a card's flagged transactions (alerts, review / decline / rule-fired decisions) of one
    UTC day."""

    model_config = ConfigDict(extra="forbid")

    case_id: str = Field(description="case-<yyyymmdd>-<card_id>: the card and the UTC day.")
    card_id: str
    window_start: str = Field(description="UTC, RFC 3339: the start of the case's day.")
    status: CaseStatus = Field(description="The latest action's result; open until someone acts.")
    priority: int = Field(ge=0, le=100, description="70% the highest score, 30% the largest amount (log).")
    alerts: int = Field(description="Distinct flagged transactions.")
    max_score: float
    max_amount: float = Field(description="Largest flagged amount the decisions report (0: unknown).")
    first_at: str
    last_at: str
    sources: list[str] = Field(description="What flagged it: model, rule:<name>.")


class CaseQueue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cases: list[CaseSummary] = Field(description="Highest priority first, then the latest.")


class CaseActionRecord(BaseModel):
    """One entry of a case's audit trail (append-only)."""

    model_config = ConfigDict(extra="forbid")

    case_id: str
    action: CaseActionName
    status: CaseStatus = Field(description="The status the action left the case in.")
    note: str
    actor: str = Field(description="The analyst the console signed in, else the API key's identity.")
    at: str = Field(description="UTC, RFC 3339.")


class CaseDetail(BaseModel):
    """A case with what an analyst needs to decide it."""

    model_config = ConfigDict(extra="forbid")

    case: CaseSummary
    merchants: list[str]
    alerts: list[dict[str, Any]] = Field(description="The case's alerts: source, score, severity, message.")
    decisions: list[dict[str, Any]] = Field(
        description="The stream scorer's flagged decisions: amount, score, reasons, rules fired."
    )
    transactions: list[dict[str, Any]] = Field(
        description="The card's latest transactions up to the day's end."
    )
    linked: list[CaseSummary] = Field(
        description="Cases of the same card on other days, or sharing a merchant."
    )
    actions: list[CaseActionRecord] = Field(description="The audit trail, oldest first.")


class CaseActionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: CaseActionName
    note: str = Field("", max_length=MAX_CASE_NOTE_CHARS, description="Why; stored with the action.")


class CaseSummaryResponse(BaseModel):
    """The agent's written summary of a case (not a queue row: see CaseSummary)."""

    request_id: str
    case_id: str
    summary: str = Field(
        description="What happened, why it was flagged, links to other cases, a suggested next step."
    )
    offline: bool = Field(description="True when the offline template was used instead of the LLM.")
    provider: str = Field(description="bedrock:<model id> or offline.")
    facts: list[str] = Field(description="The case's facts the summary was written from (the LLM's prompt).")
    notes: list[str] = Field(description="Why the template stood in for the LLM, when it did.")


class LabelCounts(BaseModel):
    """Labelled transactions per source."""

    model_config = ConfigDict(extra="forbid")

    analyst: int = Field(description="Labelled by an analyst's disposition of a case.")
    chargeback: int = Field(description="Labelled by a chargeback.")


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


# -- GET /v1/model/drift -------------------------------------------------------------------------------


class FeatureDrift(BaseModel):
    """One monitored column of the latest drift report."""

    model_config = ConfigDict(extra="forbid")

    feature: str = Field(description="A per-transaction model input, or `score`.")
    psi: float | None = Field(
        description="Population stability index against the training window; null: too few rows."
    )
    level: Literal["ok", "warn", "drifting", "insufficient"] = Field(
        description="ok below 0.1, warn from 0.1, drifting from 0.2; insufficient: too few rows to judge."
    )
    reference_rows: int
    recent_rows: int


class DriftReport(BaseModel):
    """The latest report of the `model_drift` DAG: the recent window against the model's training window."""

    model_config = ConfigDict(extra="forbid")

    pipeline: str = Field(description="<namespace>/<name> of the FraudPipeline.")
    model_version: str
    computed_at: str = Field(description="UTC, RFC 3339: the end of the recent window.")
    reference_start: str
    reference_end: str
    recent_start: str
    recent_end: str
    healthy: bool = Field(description="No monitored column is drifting.")
    drifting: list[str] = Field(description="Drifting columns, worst first.")
    alert_rate: float | None = Field(description="Share of recent decisions that were review or decline.")
    flagged_precision: float | None = Field(
        description="Frauds among flagged decisions one label delay before the recent window."
    )
    flagged_labelled: int = Field(
        description="How many flagged decisions `flagged_precision` is computed on."
    )
    features: list[FeatureDrift]
