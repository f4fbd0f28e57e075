"""The API's typed errors and the one place that turns any error into a JSON response.

Every error body has the same shape (`models.ErrorBody`): a stable machine `error` code, a message
a person can act on, the request id and, for validation errors, the bad fields by name.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from fraudlake.api.logs import current_request_id

log = logging.getLogger("fraudlake.api")


class ApiError(Exception):
    """Base of the API's errors; subclasses fix the status code and the machine-readable code."""

    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    headers: ClassVar[dict[str, str] | None] = None

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class UnauthorizedError(ApiError):
    status_code, code = 401, "unauthorized"
    headers: ClassVar[dict[str, str] | None] = {"WWW-Authenticate": 'Bearer realm="fraudlake"'}


class NotFoundError(ApiError):
    status_code, code = 404, "not_found"


class PayloadTooLargeError(ApiError):
    status_code, code = 413, "payload_too_large"


class ModelNotReadyError(ApiError):
    status_code, code = 503, "model_not_ready"
    headers: ClassVar[dict[str, str] | None] = {"Retry-After": "5"}


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
    return JSONResponse(error_body(exc.status_code, exc.code, exc.message), exc.status_code, exc.headers)


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


_DESCRIPTIONS = {
    400: "The body is not readable as JSON text (e.g. not UTF-8).",
    401: "Missing or invalid API key.",
    404: "Not found.",
    413: "Request body or batch too large.",
    422: "Invalid request: `fields` names each bad field.",
    503: "No model loaded yet (see /readyz).",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for these status codes, all with the common error body."""
    from fraudlake.api.models import ErrorBody

    return {code: {"model": ErrorBody, "description": _DESCRIPTIONS[code]} for code in codes}
