"""A small typed HTTP client of the scoring API: the UI's only way to reach data.

Every failure becomes one of three exceptions carrying a sentence a person can act on:
`ApiUnreachableError` (connection refused, timeout), `EndpointMissingError` (404 on a route, or the
API saying the feature is not configured: this API does not offer it) and `ApiError` (any other
4xx/5xx, with the API's common error body). Responses are parsed into plain dataclasses, leniently:
unknown keys are ignored, so a newer API does not break an older UI.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import httpx

DEFAULT_API_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT_SECONDS = 30.0
# The API's error code when it is not configured to read Kubernetes: the feature is absent, not failing.
PIPELINES_UNAVAILABLE = "pipelines_unavailable"


class ClientError(Exception):
    """Base of the client's errors; `str(err)` is the readable message."""


class ApiUnreachableError(ClientError):
    """The API did not answer (down, wrong URL, timeout)."""


class EndpointMissingError(ClientError):
    """The route answered 404 with no resource id involved: this API does not offer it."""

    def __init__(self, path: str):
        super().__init__(f"{path} is not available from this API")
        self.path = path


@dataclass(frozen=True)
class FieldProblem:
    field: str
    message: str


class ApiError(ClientError):
    """The API answered with an error body (`error`, `message`, `request_id`, `fields`)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        request_id: str = "",
        fields: list[FieldProblem] | None = None,
    ):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.request_id = request_id
        self.fields = fields or []


@dataclass(frozen=True)
class Reason:
    feature: str
    description: str
    value: float | None
    contribution: float


@dataclass(frozen=True)
class RuleHit:
    rule: str
    type: str
    message: str


@dataclass(frozen=True)
class ScoreResult:
    txn_id: str
    score: float
    decision: str
    model_version: str
    request_id: str = ""
    reasons: list[Reason] = field(default_factory=list)
    rules_fired: list[RuleHit] = field(default_factory=list)


@dataclass(frozen=True)
class ModelSummary:
    version: str
    source: str = ""
    thresholds: dict[str, float | None] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DocumentRef:
    id: str
    kind: str = ""
    excerpt: str = ""


@dataclass(frozen=True)
class SqlTable:
    """Rows of one read-only query, with the SQL that actually ran."""

    sql: str
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool = False

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=False)) for row in self.rows]


@dataclass(frozen=True)
class ChatAnswer:
    session_id: str
    answer: str
    offline: bool
    provider: str = ""
    documents: list[DocumentRef] = field(default_factory=list)
    sql: list[SqlTable] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class NotificationDraft:
    alert_id: str
    subject: str
    body: str
    offline: bool
    provider: str = ""
    sql: list[SqlTable] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PipelineCondition:
    type: str
    status: str
    reason: str = ""
    message: str = ""
    last_transition: str = ""


@dataclass(frozen=True)
class PipelineStatus:
    """A FraudPipeline as `GET /v1/pipelines` describes it (kubectl's columns plus conditions)."""

    name: str
    namespace: str = ""
    ready: bool = False
    reason: str = ""
    topics_ready: str = ""
    tables_ready: str = ""
    generation: int | None = None
    observed_generation: int | None = None
    up_to_date: bool = False
    created: str = ""
    conditions: list[PipelineCondition] = field(default_factory=list)


def _sql_table(raw: dict[str, Any]) -> SqlTable:
    return SqlTable(
        sql=str(raw.get("sql", "")),
        columns=list(raw.get("columns") or []),
        rows=[list(row) for row in raw.get("rows") or []],
        truncated=bool(raw.get("truncated", False)),
    )


def parse_score(raw: dict[str, Any]) -> ScoreResult:
    """A `ScoreResponse` body as a `ScoreResult`."""
    return ScoreResult(
        txn_id=str(raw.get("txn_id", "")),
        score=float(raw["score"]),
        decision=str(raw["decision"]),
        model_version=str(raw.get("model_version", "")),
        request_id=str(raw.get("request_id", "")),
        reasons=[
            Reason(r["feature"], r.get("description", ""), r.get("value"), float(r["contribution"]))
            for r in raw.get("reasons") or []
        ],
        rules_fired=[
            RuleHit(h["rule"], h.get("type", ""), h.get("message", "")) for h in raw.get("rules_fired") or []
        ],
    )


def parse_chat(raw: dict[str, Any]) -> ChatAnswer:
    """An agent chat body; citations may be nested (`citations.documents/sql`) or flat."""
    citations = raw.get("citations") or raw
    return ChatAnswer(
        session_id=str(raw.get("session_id", "")),
        answer=str(raw.get("answer", "")),
        offline=bool(raw.get("offline", False)),
        provider=str(raw.get("provider", "")),
        documents=[
            DocumentRef(str(d["id"]), d.get("kind", ""), d.get("excerpt", ""))
            for d in citations.get("documents") or []
        ],
        sql=[_sql_table(s) for s in citations.get("sql") or []],
        notes=[str(n) for n in raw.get("notes") or []],
    )


def parse_notification(raw: dict[str, Any]) -> NotificationDraft:
    return NotificationDraft(
        alert_id=str(raw.get("alert_id", "")),
        subject=str(raw.get("subject", "")),
        body=str(raw.get("body", "")),
        offline=bool(raw.get("offline", False)),
        provider=str(raw.get("provider", "")),
        sql=[_sql_table(s) for s in raw.get("sql") or []],
        notes=[str(n) for n in raw.get("notes") or []],
    )


def parse_pipeline(raw: dict[str, Any]) -> PipelineStatus:
    """One `Pipeline` body of the API; Ready falls back to the Ready condition when absent."""
    conditions = [
        PipelineCondition(
            type=str(c.get("type", "")),
            status=str(c.get("status", "")),
            reason=str(c.get("reason", "")),
            message=str(c.get("message", "")),
            last_transition=str(c.get("last_transition_time", "")),
        )
        for c in raw.get("conditions") or []
    ]
    ready = raw.get("ready")
    if ready is None:
        ready = any(c.type == "Ready" and c.status == "True" for c in conditions)
    return PipelineStatus(
        name=str(raw.get("name", "")),
        namespace=str(raw.get("namespace", "")),
        ready=bool(ready),
        reason=str(raw.get("reason", "")),
        topics_ready=str(raw.get("topics_ready", "")),
        tables_ready=str(raw.get("tables_ready", "")),
        generation=raw.get("generation"),
        observed_generation=raw.get("observed_generation"),
        up_to_date=bool(raw.get("up_to_date", False)),
        created=str(raw.get("created", "")),
        conditions=conditions,
    )


def parse_pipelines(raw: dict[str, Any]) -> list[PipelineStatus]:
    """A `PipelineList` body of the API."""
    return [parse_pipeline(item) for item in raw.get("items") or []]


class FraudlakeClient:
    """Synchronous client of one API base URL, authenticated with one key (X-API-Key)."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        transport: httpx.BaseTransport | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        headers = {"X-API-Key": api_key} if api_key else {}
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )

    def _request(self, method: str, path: str, *, json: Any = None, missing_is_feature: bool = True) -> Any:
        try:
            response = self._http.request(method, path, json=json)
        except httpx.TimeoutException as exc:
            raise ApiUnreachableError(
                f"the API at {self.base_url} did not answer in time ({exc.__class__.__name__})"
            ) from exc
        except httpx.TransportError as exc:
            raise ApiUnreachableError(f"cannot reach the API at {self.base_url}: {exc}") from exc
        if response.status_code == 404 and missing_is_feature and _is_route_missing(response):
            raise EndpointMissingError(path)
        if response.status_code >= 400:
            raise _api_error(response)
        return response.json()

    def health(self) -> bool:
        """True when /healthz answers."""
        return self._request("GET", "/healthz").get("status") == "ok"

    def model(self) -> ModelSummary:
        raw = self._request("GET", "/v1/model")
        return ModelSummary(
            version=str(raw.get("version", "")),
            source=str(raw.get("source", "")),
            thresholds=dict(raw.get("thresholds") or {}),
            metrics=dict(raw.get("metrics") or {}),
        )

    def score(self, transaction: dict[str, Any]) -> ScoreResult:
        return parse_score(self._request("POST", "/v1/score", json=transaction))

    def chat(self, message: str, session_id: str | None = None) -> ChatAnswer:
        body: dict[str, Any] = {"message": message}
        if session_id:
            body["session_id"] = session_id
        return parse_chat(self._request("POST", "/v1/agent/chat", json=body))

    def draft_notification(self, alert_id: str) -> NotificationDraft:
        raw = self._request("POST", f"/v1/alerts/{alert_id}/notification", json={}, missing_is_feature=False)
        return parse_notification(raw)

    def sql(self, query: str) -> SqlTable:
        return _sql_table(self._request("POST", "/v1/sql", json={"sql": query}))

    def pipelines(self) -> list[PipelineStatus]:
        """The FraudPipelines; EndpointMissingError when this API does not read Kubernetes at all."""
        try:
            return parse_pipelines(self._request("GET", "/v1/pipelines"))
        except ApiError as exc:
            if exc.code == PIPELINES_UNAVAILABLE:
                raise EndpointMissingError("/v1/pipelines") from exc
            raise


def _is_route_missing(response: httpx.Response) -> bool:
    """A 404 of the framework (no such route) rather than of a resource the route looked up."""
    try:
        body = response.json()
    except ValueError:
        return True
    message = str(body.get("message", body.get("detail", ""))) if isinstance(body, dict) else ""
    return message in {"Not Found", ""}


def _api_error(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    message = body.get("message") or body.get("detail") or response.reason_phrase or "error"
    fields = [
        FieldProblem(str(f.get("field", "")), str(f.get("message", ""))) for f in body.get("fields") or []
    ]
    return ApiError(
        response.status_code,
        str(body.get("error", "http_error")),
        str(message),
        str(body.get("request_id", "")),
        fields,
    )


def client_from_env() -> FraudlakeClient:
    """The client configured by FRAUDLAKE_API_URL and FRAUDLAKE_API_KEY."""
    return FraudlakeClient(
        os.environ.get("FRAUDLAKE_API_URL", DEFAULT_API_URL), os.environ.get("FRAUDLAKE_API_KEY") or None
    )
