"""Shared dependencies as `Annotated` aliases: routers declare what they need by type.

Every dependency here is `async def`: FastAPI runs sync dependencies in the thread pool, and a thread
hop per request would cost more than the work they do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.security import APIKeyHeader

from fraudlake.api.bundle import ModelBundle
from fraudlake.api.errors import ModelNotReadyError, UnauthorizedError
from fraudlake.api.services import Services
from fraudlake.api.state import ServingState


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_services(request: Request) -> Services:
    return _services(request)


ServicesDep = Annotated[Services, Depends(get_services)]


class ApiKeyAuth(APIKeyHeader):
    """401 unless the request carries a configured key in `X-API-Key` or `Authorization: Bearer`.

    Both headers are read here, in one dependency: FastAPI resolves each (sub-)dependency with a pass
    of its own on every request, and on the scoring path that costs more than the check. The bearer
    alternative is added to the OpenAPI document by `document_bearer_auth`.
    """

    async def __call__(self, request: Request) -> None:
        offered = request.headers.get("x-api-key") or _bearer_token(request.headers.get("authorization"))
        if not offered:
            raise UnauthorizedError(
                "missing API key: send it in the X-API-Key header or as Authorization: Bearer <key>"
            )
        if not _services(request).keys.accepts(offered):
            raise UnauthorizedError("invalid API key")


def _bearer_token(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


require_api_key = ApiKeyAuth(
    name="X-API-Key",
    auto_error=False,
    scheme_name="ApiKey",
    description="One of the keys in FRAUDLAKE_API_KEYS (or send it as `Authorization: Bearer <key>`).",
)
_BEARER_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": "The API key as a bearer token.",
}


def document_bearer_auth(app: FastAPI) -> None:
    """Declare the bearer alternative in the app's OpenAPI document: the `Bearer` scheme, and on every
    operation that requires `ApiKey`, `Bearer` as the other way to meet it."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()  # FastAPI caches it as app.openapi_schema: edited once
        document["components"]["securitySchemes"]["Bearer"] = _BEARER_SCHEME
        for operations in document["paths"].values():
            for operation in operations.values():
                if {"ApiKey": []} in operation.get("security", []):
                    operation["security"].append({"Bearer": []})
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _loaded_model(services: Services) -> ModelBundle:
    bundle = services.watcher.current if services.watcher else None
    if bundle is None:
        raise ModelNotReadyError("no model loaded yet; retry when /readyz reports ready")
    return bundle


async def current_model(request: Request) -> ModelBundle:
    """The served model, read once per request (a reload mid-request does not affect it)."""
    return _loaded_model(_services(request))


@dataclass(frozen=True)
class ScoringContext:
    """Everything a scoring route needs, resolved by one dependency (each dependency costs time)."""

    services: Services
    model: ModelBundle
    state: ServingState


async def scoring_context(request: Request) -> ScoringContext:
    """The services, the served model (read once per request) and the online state; 503 until loaded."""
    services = _services(request)
    model = _loaded_model(services)
    if services.state is None:
        raise ModelNotReadyError("the online feature state is not ready yet")
    return ScoringContext(services, model, services.state)


Model = Annotated[ModelBundle, Depends(current_model)]
Scoring = Annotated[ScoringContext, Depends(scoring_context)]
