"""Shared dependencies as `Annotated` aliases: routers declare what they need by type.

Every dependency here is `async def`: FastAPI runs sync dependencies in the thread pool, and a thread
hop per request would cost more than the work they do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from fraudlake.api.bundle import ModelBundle
from fraudlake.api.errors import ModelNotReadyError, UnauthorizedError
from fraudlake.api.services import Services
from fraudlake.api.state import ServingState

_api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    scheme_name="ApiKey",
    description="One of the keys in FRAUDLAKE_API_KEYS.",
)
_bearer = HTTPBearer(auto_error=False, scheme_name="Bearer", description="The API key as a bearer token.")


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_services(request: Request) -> Services:
    return _services(request)


ServicesDep = Annotated[Services, Depends(get_services)]


async def require_api_key(
    request: Request,
    api_key: Annotated[str | None, Security(_api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> None:
    """401 unless the request carries a configured key in X-API-Key or Authorization: Bearer."""
    offered = api_key or (bearer.credentials if bearer else None)
    if not offered:
        raise UnauthorizedError(
            "missing API key: send it in the X-API-Key header or as Authorization: Bearer <key>"
        )
    if not _services(request).keys.accepts(offered):
        raise UnauthorizedError("invalid API key")


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
