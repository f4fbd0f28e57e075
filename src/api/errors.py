"""The API's typed errors and the one place that turns any error into a JSON response.

Every error body has the same shape (`models.ErrorBody`): a stable machine `error` code, a message
a person can act on, the request id and, for validation errors, the bad fields by name.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from fraudlake.api.logs import current_request_id
from fraudlake.api.models import ErrorBody

log = logging.getLogger("fraudlake.api")


class ApiError(Exception):
    """Base of the API's errors; subclasses fix the status code, the machine-readable code and the
    `description` the OpenAPI document gives their status (`error_responses`)."""

    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    description: ClassVar[str] = "Internal error."
    headers: ClassVar[dict[str, str] | None] = None

    def __init__(self, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        # The class's headers, and this instance's on top (a Retry-After computed for this request).
        self.response_headers = {**(type(self).headers or {}), **(headers or {})} or None


class UnauthorizedError(ApiError):
    status_code, code, description = 401, "unauthorized", "Missing or invalid API key."
    headers: ClassVar[dict[str, str] | None] = {"WWW-Authenticate": 'Bearer realm="fraudlake"'}


class InvalidAnalystError(ApiError):
    status_code, code, description = (
        400,
        "invalid_analyst",
        "The X-Fraudlake-Analyst header is not a readable name.",
    )


class NotFoundError(ApiError):
    status_code, code, description = 404, "not_found", "Not found."


class PayloadTooLargeError(ApiError):
    status_code, code, description = 413, "payload_too_large", "Request body or batch too large."


class ModelNotReadyError(ApiError):
    status_code, code, description = 503, "model_not_ready", "No model loaded yet (see /readyz)."
    headers: ClassVar[dict[str, str] | None] = {"Retry-After": "5"}


class RateLimitedError(ApiError):
    """The caller's key used up its rate of a limited route group (`fraudlake.api.ratelimit`)."""

    status_code, code = 429, "rate_limited"
    description = "Too many requests with this API key; retry after `Retry-After` seconds."

    def __init__(self, message: str, retry_after: int):
        super().__init__(message, {"Retry-After": str(retry_after)})
        self.retry_after = retry_after


# -- the agent and its SQL ---------------------------------------------------------------------------


class SqlRefusedError(ApiError):
    status_code, code, description = 400, "sql_rejected", "The SQL guard refused the query."


class SqlFailedError(ApiError):
    status_code, code, description = 400, "sql_failed", "ClickHouse refused or failed the query."


class AgentNotConfiguredError(ApiError):
    status_code, code = 503, "agent_unavailable"
    description = "The agent is not configured (no ClickHouse DSN)."
    headers: ClassVar[dict[str, str] | None] = {"Retry-After": "60"}


@contextmanager
def agent_failures() -> Iterator[None]:
    """Turn the agent's own failures inside the block into the API's errors.

    The agent's modules are imported here, when a request already uses the agent: the scoring routes
    never load them.
    """
    from clickhouse_connect.driver.exceptions import DatabaseError

    from fraudlake.agent.notification import AlertNotFoundError
    from fraudlake.agent.service import AgentUnavailableError
    from fraudlake.agent.sql_guard import SqlRejectedError, UnsafeSessionError

    try:
        yield
    except SqlRejectedError as exc:
        raise SqlRefusedError(f"query refused: {exc}") from None
    except (AgentUnavailableError, UnsafeSessionError) as exc:  # the deployment's fault, not the query's
        raise AgentNotConfiguredError(str(exc)) from None
    except AlertNotFoundError as exc:
        raise NotFoundError(str(exc)) from None
    except DatabaseError as exc:  # ClickHouse's own refusal (unknown column, time or memory limit …)
        raise SqlFailedError(f"query failed: {_first_line(str(exc))}") from None


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0][:500] if message.strip() else "unknown error"


# -- FraudPipelines from the Kubernetes API ----------------------------------------------------------


class PipelinesUnavailableError(ApiError):
    """This API is not configured to read the Kubernetes API (the UI hides its Pipelines tab)."""

    status_code, code = 503, "pipelines_unavailable"
    description = "FRAUDLAKE_KUBECONFIG is unset: this API does not read FraudPipelines."


class KubernetesUnreachableError(ApiError):
    status_code, code, description = 503, "kubernetes_unreachable", "The Kubernetes API is unreachable."
    headers: ClassVar[dict[str, str] | None] = {"Retry-After": "10"}


class KubernetesError(ApiError):
    """The Kubernetes API answered with an error (credentials refused, CRD missing, server trouble)."""

    status_code, code = 502, "kubernetes_error"
    description = "The Kubernetes API refused or failed (CRD missing, RBAC)."


def error_body(
    status: int, code: str, message: str, fields: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"error": code, "message": message, "request_id": current_request_id()}
    if fields is not None:
        body["fields"] = fields
    return body


def field_name(loc: tuple[Any, ...]) -> str:
    """`('body', 'transactions', 3, 'amount')` → `transactions[3].amount` (what the client sent)."""
    parts = [p for p in loc if p != "body"] or ["body"]
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _validation_fields(exc: RequestValidationError) -> list[dict[str, str]]:
    return [{"field": field_name(tuple(err["loc"])), "message": err["msg"]} for err in exc.errors()]


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(
        error_body(exc.status_code, exc.code, exc.message), exc.status_code, exc.response_headers
    )


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = _validation_fields(exc)
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
    more = f" (and {len(fields) - 5} more)" if len(fields) > 5 else ""
    return JSONResponse(error_body(422, "validation_error", f"invalid request: {summary}{more}", fields), 422)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {
        400: "malformed_body",
        404: "not_found",
        405: "method_not_allowed",
        413: PayloadTooLargeError.code,
    }
    code = codes.get(exc.status_code, "http_error")
    return JSONResponse(error_body(exc.status_code, code, str(exc.detail)), exc.status_code, exc.headers)


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error", exc_info=exc)
    return JSONResponse(error_body(500, "internal_error", "internal error; see the server log"), 500)


def install_error_handlers(app: FastAPI) -> None:
    """Map every error type to its status code and the common error body, in one place."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


# What the framework itself answers (not an ApiError): a body it cannot read, a body that fails validation.
_FRAMEWORK_ERRORS = {
    400: "The body is not readable as JSON text (e.g. not UTF-8).",
    422: "Invalid request: `fields` names each bad field.",
}


def error_responses(*errors: int | type[ApiError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries, all with the common error body, for the errors a route may answer:
    the API's error types, and 400 or 422 for the framework's. Errors sharing a status share its entry."""
    described: dict[int, list[str]] = {}
    for error in errors:
        if isinstance(error, int):
            described.setdefault(error, []).append(_FRAMEWORK_ERRORS[error])
        else:
            described.setdefault(error.status_code, []).append(error.description)
    return {
        status: {"model": ErrorBody, "description": " ".join(texts)} for status, texts in described.items()
    }
