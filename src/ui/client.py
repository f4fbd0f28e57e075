"""A small typed HTTP client of the scoring API: the UI's only way to reach data.

Answers are parsed with the API's own models (`fraudlake.api.models`, `fraudlake.scoring.models`), the
classes the API builds them from, so the console reads exactly what the API promises. Keys a model
does not know are ignored: a newer API that adds fields does not break an older console. The UI
imports those two model modules of the API and nothing else of it (an import-linter contract).

Every failure becomes one of four exceptions carrying a sentence a person can act on:
`ApiUnreachableError` (connection refused, timeout), `EndpointMissingError` (404 on a route, or the
API saying the feature is not configured: this API does not offer it), `ApiError` (any other 4xx/5xx,
with the API's common error body) and `UnexpectedAnswerError` (an answer the models cannot read).
"""

from __future__ import annotations

import os
import time
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import httpx
from pydantic import BaseModel, ValidationError

from fraudlake.api.models import (
    ANALYST_HEADER,
    CaseActionRecord,
    CaseDetail,
    CaseQueue,
    CaseSummary,
    CaseSummaryResponse,
    ChatResponse,
    DriftReport,
    ErrorBody,
    FieldError,
    Health,
    LabelCounts,
    ModelReport,
    NotificationResponse,
    Pipeline,
    PipelineList,
    ScoreResponse,
    SqlResponse,
)
from fraudlake.scoring.models import ModelInfo
from fraudlake.ui.metrics import API_CALLS, TIMEOUT, UNREACHABLE, ApiCallMetrics

DEFAULT_API_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT_SECONDS = 30.0
# The API's error code when it is not configured to read Kubernetes: the feature is absent, not failing.
PIPELINES_UNAVAILABLE = "pipelines_unavailable"
# The API's error code when it has no ClickHouse to read drift reports from: absent, not failing.
DRIFT_UNAVAILABLE = "drift_unavailable"
AnswerT = TypeVar("AnswerT", bound=BaseModel)


class ClientError(Exception):
    """Base of the client's errors; `str(err)` is the readable message."""


class ApiUnreachableError(ClientError):
    """The API did not answer (down, wrong URL, timeout)."""


class EndpointMissingError(ClientError):
    """The route answered 404 with no resource id involved: this API does not offer it."""

    def __init__(self, path: str):
        super().__init__(f"{path} is not available from this API")
        self.path = path


class UnexpectedAnswerError(ClientError):
    """The API answered 2xx with a body its own models cannot read (a different API, or a proxy's page)."""


class ApiError(ClientError):
    """The API answered with an error body (`ErrorBody`: `error`, `message`, `request_id`, `fields`)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        request_id: str = "",
        fields: list[FieldError] | None = None,
    ):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.request_id = request_id
        self.fields = fields or []


class FraudlakeClient:
    """Synchronous client of one API base URL, authenticated with one key (X-API-Key)."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        transport: httpx.BaseTransport | None = None,
        metrics: ApiCallMetrics = API_CALLS,
        analyst: str | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.metrics = metrics
        headers = {"X-API-Key": api_key} if api_key else {}
        if analyst:  # who the console acts for, for the API's logs and audit records
            headers[ANALYST_HEADER] = quote(analyst, safe="@._+-")
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )

    def _request(
        self,
        method: str,
        path: str,
        answer: type[AnswerT],
        *,
        json: Any = None,
        missing_is_feature: bool = True,
        route: str | None = None,
    ) -> AnswerT:
        """The answer of `method path` read as the API's `answer` model, or one of the client's errors.

        `route` is the path's template when the path carries an id (the metrics' label)."""
        started = time.perf_counter()
        status: int | str = UNREACHABLE
        try:
            response = self._http.request(method, path, json=json)
            status = response.status_code
        except httpx.TimeoutException as exc:
            status = TIMEOUT
            raise ApiUnreachableError(
                f"the API at {self.base_url} did not answer in time ({exc.__class__.__name__})"
            ) from exc
        except httpx.TransportError as exc:
            raise ApiUnreachableError(f"cannot reach the API at {self.base_url}: {exc}") from exc
        finally:
            self.metrics.observe(method, route or path, status, time.perf_counter() - started)
        if response.status_code == 404 and missing_is_feature and _is_route_missing(response):
            raise EndpointMissingError(path)
        if response.status_code >= 400:
            raise _api_error(response)
        try:
            return answer.model_validate_json(response.content)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(part) for part in first["loc"]) or "the body"
            raise UnexpectedAnswerError(
                f"the answer of {path} is not a {answer.__name__} ({where}: {first['msg']}): "
                f"is {self.base_url} a Fraudlake scoring API?"
            ) from None

    def health(self) -> bool:
        """True when /healthz answers."""
        return self._request("GET", "/healthz", Health).status == "ok"

    def model(self) -> ModelInfo:
        return self._request("GET", "/v1/model", ModelInfo)

    def model_report(self) -> ModelReport:
        """The served model's report (candidates compared, curves, importance, decision table)."""
        return self._request("GET", "/v1/model/report", ModelReport)

    def model_drift(self) -> DriftReport | None:
        """The latest drift report of the API's pipeline; None before the first one."""
        try:
            return self._request("GET", "/v1/model/drift", DriftReport)
        except ApiError as exc:
            if exc.status == 404 and exc.code == "not_found":
                return None
            raise

    def score(self, transaction: dict[str, Any]) -> ScoreResponse:
        return self._request("POST", "/v1/score", ScoreResponse, json=transaction)

    def chat(self, message: str, session_id: str | None = None) -> ChatResponse:
        body: dict[str, Any] = {"message": message}
        if session_id:
            body["session_id"] = session_id
        return self._request("POST", "/v1/agent/chat", ChatResponse, json=body)

    def draft_notification(self, alert_id: str) -> NotificationResponse:
        path = f"/v1/alerts/{alert_id}/notification"
        return self._request(
            "POST",
            path,
            NotificationResponse,
            json={},
            missing_is_feature=False,
            route="/v1/alerts/{alert_id}/notification",
        )

    def sql(self, query: str) -> SqlResponse:
        return self._request("POST", "/v1/sql", SqlResponse, json={"sql": query})

    def pipelines(self) -> list[Pipeline]:
        """The FraudPipelines; EndpointMissingError when this API does not read Kubernetes at all."""
        try:
            return self._request("GET", "/v1/pipelines", PipelineList).items
        except ApiError as exc:
            if exc.code == PIPELINES_UNAVAILABLE:
                raise EndpointMissingError("/v1/pipelines") from exc
            raise

    def cases(
        self,
        statuses: list[str] | None = None,
        min_priority: int = 0,
        source: str | None = None,
        limit: int = 50,
        since: str | None = None,
    ) -> list[CaseSummary]:
        """The case queue, highest priority first (the API's default statuses: open and escalated);
        `since`: YYYY-MM-DD, cases of that UTC day and later."""
        query: list[tuple[str, str | int]] = [("status", s) for s in statuses or []]
        query += [("min_priority", min_priority), ("limit", limit)]
        if source:
            query.append(("source", source))
        if since:
            query.append(("since", since))
        path = f"/v1/cases?{urlencode(query)}"
        return self._request("GET", path, CaseQueue, route="/v1/cases").cases

    def case(self, case_id: str) -> CaseDetail:
        return self._request(
            "GET", f"/v1/cases/{quote(case_id)}", CaseDetail, missing_is_feature=False,
            route="/v1/cases/{case_id}",
        )  # fmt: skip

    def act_on_case(self, case_id: str, action: str, note: str = "") -> CaseActionRecord:
        """Record an action; the API stores who (this console's analyst) and when."""
        return self._request(
            "POST", f"/v1/cases/{quote(case_id)}/actions", CaseActionRecord,
            json={"action": action, "note": note}, missing_is_feature=False,
            route="/v1/cases/{case_id}/actions",
        )  # fmt: skip

    def summarise_case(self, case_id: str) -> CaseSummaryResponse:
        """The agent's summary of a case (a Bedrock call when the API has one: rate-limited)."""
        return self._request(
            "POST", f"/v1/cases/{quote(case_id)}/summary", CaseSummaryResponse, json={},
            route="/v1/cases/{case_id}/summary",
        )  # fmt: skip

    def label_counts(self) -> LabelCounts:
        return self._request("GET", "/v1/cases/labels", LabelCounts)


def _error_body(response: httpx.Response) -> ErrorBody | None:
    """The API's error body, or None for an answer not in its shape (a proxy's page, another server)."""
    try:
        return ErrorBody.model_validate_json(response.content)
    except ValidationError:
        return None


def _is_route_missing(response: httpx.Response) -> bool:
    """A 404 of the framework (no such route, or not this API at all) rather than of a resource the
    route looked up (whose message names it)."""
    body = _error_body(response)
    return body is None or body.message in {"Not Found", ""}


def _api_error(response: httpx.Response) -> ApiError:
    body = _error_body(response)
    if body is None:
        return ApiError(response.status_code, "http_error", response.reason_phrase or "error")
    return ApiError(response.status_code, body.error, body.message, body.request_id, body.fields)


def client_from_env(analyst: str | None = None) -> FraudlakeClient:
    """The client configured by FRAUDLAKE_API_URL and FRAUDLAKE_API_KEY, acting for `analyst`."""
    return FraudlakeClient(
        os.environ.get("FRAUDLAKE_API_URL", DEFAULT_API_URL),
        os.environ.get("FRAUDLAKE_API_KEY") or None,
        analyst=analyst,
    )
