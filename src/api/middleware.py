"""Pure ASGI middleware around every request: request id, body size limit, latency metric, access log.

Pure ASGI rather than `BaseHTTPMiddleware`: it adds microseconds, not a task and a stream copy, to
the scoring hot path.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fraudlake.api.errors import PayloadTooLargeError, error_body
from fraudlake.api.logs import set_request_id
from fraudlake.api.metrics import ApiMetrics
from fraudlake.api.models import ANALYST_HEADER, analyst_from_header

REQUEST_ID_HEADER = "x-request-id"
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_QUIET_ROUTES = ("/healthz", "/readyz", "/metrics")  # probes and scrapes log at debug level
access_log = logging.getLogger("fraudlake.api.access")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def _analyst(scope: Scope) -> dict[str, str]:
    """The analyst a console sent (for the access log); an unreadable one is logged as such, not raised:
    the route's own dependency answers it with 400."""
    try:
        analyst = analyst_from_header(_header(scope, ANALYST_HEADER.lower().encode()))
    except ValueError:
        return {"analyst": "<unreadable>"}
    return {"analyst": analyst} if analyst else {}


class RequestContextMiddleware:
    """Gives each request an id (the client's `X-Request-ID` when well-formed), enforces the body
    limit (413), and records latency per route template and one JSON access line."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics, max_body_bytes: int):
        self.app, self.metrics, self.max_body_bytes = app, metrics, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = _header(scope, REQUEST_ID_HEADER.encode())
        request_id = offered if offered and _CLIENT_REQUEST_ID.match(offered) else uuid.uuid4().hex
        set_request_id(request_id)
        start = time.perf_counter()
        status = [500]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            if self._declared_too_large(scope):
                await self._reject_too_large(send_with_id)
            else:
                await self.app(scope, self._limited(receive), send_with_id)
        finally:
            self._record(scope, status[0], time.perf_counter() - start, request_id)

    def _declared_too_large(self, scope: Scope) -> bool:
        declared = _header(scope, b"content-length")
        return declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes

    async def _reject_too_large(self, send: Send) -> None:
        body = json.dumps(error_body(413, PayloadTooLargeError.code, self._too_large_message())).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _too_large_message(self) -> str:
        return f"request body is larger than {self.max_body_bytes} bytes"

    def _limited(self, receive: Receive) -> Receive:
        """`receive` that stops a body without Content-Length (chunked) once it passes the limit."""
        seen = [0]

        async def limited_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                seen[0] += len(message.get("body", b""))
                if seen[0] > self.max_body_bytes:
                    # An HTTPException, because FastAPI turns any other error while reading a body into 400.
                    raise HTTPException(413, self._too_large_message())
            return message

        return limited_receive

    def _record(self, scope: Scope, status: int, seconds: float, request_id: str) -> None:
        route: Any = scope.get("route")
        template = getattr(route, "path", None) or "<unmatched>"
        self.metrics.observe_request(scope["method"], template, status, seconds)
        level = logging.DEBUG if template in _QUIET_ROUTES else logging.INFO
        if access_log.isEnabledFor(level):
            access_log.log(
                level,
                "%s %s %d",
                scope["method"],
                scope["path"],
                status,
                extra={
                    "request_id": request_id,
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": template,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                    **_analyst(scope),
                },
            )
