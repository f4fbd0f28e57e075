"""Shared dependencies as `Annotated` aliases: routers declare what they need by type.

Every dependency here is `async def`: FastAPI runs sync dependencies in the thread pool, and a thread
hop per request would cost more than the work they do.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Generic, TypeVar

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ValidationError
from starlette.routing import BaseRoute

from fraudlake.api.errors import InvalidAnalystError, ModelNotReadyError, RateLimitedError, UnauthorizedError
from fraudlake.api.models import ANALYST_HEADER, analyst_from_header
from fraudlake.api.pipelines import PipelineSource
from fraudlake.api.runtime import Services
from fraudlake.scoring.bundle import ModelBundle
from fraudlake.scoring.state import ServingState

if TYPE_CHECKING:
    from fraudlake.agent.service import AgentService
    from fraudlake.api.case_access import CaseAccess

log = logging.getLogger("fraudlake.api")


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
    alternative is added to the OpenAPI document by `complete_openapi`.

    Returns the key's identity (`key-<n>`, not the key): what `RateLimit` keys its buckets by. FastAPI
    caches a dependency per request, so a route that is both protected and limited checks the key once.
    """

    async def __call__(self, request: Request) -> str:
        offered = request.headers.get("x-api-key") or _bearer_token(request.headers.get("authorization"))
        if not offered:
            raise UnauthorizedError(
                "missing API key: send it in the X-API-Key header or as Authorization: Bearer <key>"
            )
        identity = _services(request).keys.identify(offered)
        if identity is None:
            raise UnauthorizedError("invalid API key")
        return identity


def _bearer_token(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


require_api_key = ApiKeyAuth(
    name="X-API-Key",
    auto_error=False,
    scheme_name="ApiKey",
    description="One of the keys in FRAUDLAKE_API_KEYS (or send it as `Authorization: Bearer <key>`).",
)


ApiKeyIdentity = Annotated[str, Depends(require_api_key)]


@dataclass(frozen=True)
class Caller:
    """Who is asking: the API key (the credential, `key-<n>`) and the analyst a console acts for.

    The analyst is what the console's sign-in established (fraudlake.ui.identity) and is taken on the
    key holder's word: it says who did something, in logs and audit records; it grants nothing.
    """

    api_key: str
    analyst: str | None

    @property
    def who(self) -> str:
        """The name an audit record stores: the analyst, else the key."""
        return self.analyst or self.api_key


async def get_caller(request: Request, identity: ApiKeyIdentity) -> Caller:
    try:
        analyst = analyst_from_header(request.headers.get(ANALYST_HEADER))
    except ValueError as exc:
        raise InvalidAnalystError(str(exc)) from None
    return Caller(identity, analyst)


CallerDep = Annotated[Caller, Depends(get_caller)]


class RateLimit:
    """429 `rate_limited` (with `Retry-After`) once the caller's API key has used up its rate of `group`
    (`fraudlake.api.ratelimit`; the rates are settings). For the routes that cost money or share one
    runner — never the scoring routes. Each refusal is counted (`fraudlake_api_rate_limited_total`) and
    logged with the key's identity."""

    def __init__(self, group: str):
        self.group = group

    async def __call__(self, request: Request, identity: ApiKeyIdentity) -> None:
        services = _services(request)
        retry_after = services.rate_limiter.acquire(self.group, identity)
        if retry_after is None:
            return
        services.metrics.inc(services.metrics.rate_limited, self.group)
        log.warning(
            "rate limited",
            extra={"group": self.group, "api_key": identity, "retry_after_seconds": retry_after},
        )
        rate = services.rate_limiter.rates[self.group]
        raise RateLimitedError(
            f"rate limit of the {self.group} routes reached for this API key ({rate.per_minute:g} a minute, "
            f"bursts of {rate.burst}); retry in {retry_after} s",
            retry_after,
        )


ModelT = TypeVar("ModelT", bound=BaseModel)


class JsonBody(Generic[ModelT]):
    """The request body as `model`, validated by pydantic-core straight from the JSON bytes.

    For the scoring routes. FastAPI's own body handling decodes the JSON into Python objects and then
    validates those: two passes, the second in pydantic's Python mode, while the contract is its JSON
    mode (`TransactionIn`: 7.0 is an integer, "7" is not; test_api_json_integers). Errors read as
    FastAPI's: 422 naming each bad field under `body`. `complete_openapi` documents the body and adds
    the model's schema.
    """

    def __init__(self, model: type[ModelT], examples: dict[str, Any] | None = None):
        self.model, self.examples = model, examples

    async def __call__(self, request: Request) -> ModelT:
        if not _is_json(request.headers.get("content-type")):
            message = "the body must be JSON, sent as Content-Type: application/json"
            raise RequestValidationError([{"type": "content_type", "loc": ("body",), "msg": message}])
        try:
            return self.model.model_validate_json(await request.body())
        except ValidationError as exc:
            raise RequestValidationError(
                [{**err, "loc": ("body", *err["loc"])} for err in exc.errors(include_url=False)]
            ) from None

    def request_body(self) -> dict[str, Any]:
        """The OpenAPI `requestBody` of an operation that reads its body through this dependency."""
        media: dict[str, Any] = {"schema": {"$ref": f"#/components/schemas/{self.model.__name__}"}}
        if self.examples:
            media["examples"] = self.examples
        return {"required": True, "content": {"application/json": media}}


def _is_json(content_type: str | None) -> bool:
    """application/json or application/*+json, as FastAPI accepts (a missing Content-Type is not)."""
    main, _, subtype = (content_type or "").partition(";")[0].strip().lower().partition("/")
    return main == "application" and (subtype == "json" or subtype.endswith("+json"))


_BEARER_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": "The API key as a bearer token.",
}


def complete_openapi(app: FastAPI) -> None:
    """Add to the app's OpenAPI document what FastAPI cannot see: the bearer alternative to the API key
    and the request bodies read through `JsonBody`."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()  # FastAPI caches it as app.openapi_schema: edited once
        _document_bearer_auth(document)
        _document_json_bodies(document, app.routes)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _document_bearer_auth(document: dict[str, Any]) -> None:
    """The `Bearer` scheme, and on every operation that requires `ApiKey`, `Bearer` as the other way."""
    document["components"]["securitySchemes"]["Bearer"] = _BEARER_SCHEME
    for operations in document["paths"].values():
        for operation in operations.values():
            if {"ApiKey": []} in operation.get("security", []):
                operation["security"].append({"Bearer": []})


def _document_json_bodies(document: dict[str, Any], routes: Iterable[BaseRoute]) -> None:
    """Each `JsonBody` dependency's body on its operations, and its model among the schemas."""
    schemas = document["components"].setdefault("schemas", {})
    for route in routes:
        if not isinstance(route, APIRoute):
            continue
        for body in (d.call for d in route.dependant.dependencies if isinstance(d.call, JsonBody)):
            for method in route.methods:
                document["paths"][route.path_format][method.lower()]["requestBody"] = body.request_body()
            schema = body.model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, nested in schema.pop("$defs", {}).items():
                schemas.setdefault(name, nested)
            schemas.setdefault(body.model.__name__, schema)


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


async def agent_service(request: Request) -> AgentService:
    """The process's fraud-analyst agent (made on the first request that needs it)."""
    return _services(request).agent_service()


async def pipeline_source(request: Request) -> PipelineSource:
    """Where FraudPipelines are read; 503 `pipelines_unavailable` without FRAUDLAKE_KUBECONFIG. In a
    worker thread: the first call imports `kubernetes` and reads the credentials (the routes' calls to
    the Kubernetes API run in one anyway)."""
    return await asyncio.to_thread(_services(request).pipeline_source)


async def case_access(request: Request) -> CaseAccess:
    """The pipeline database's cases; 503 `cases_unavailable` without a ClickHouse DSN. Imported here,
    not at the top: the scoring routes never load the cases store (nor clickhouse-connect's driver)."""
    from fraudlake.api.case_access import CaseAccess, CasesUnavailableError

    settings = _services(request).settings
    if settings.clickhouse_dsn is None:
        raise CasesUnavailableError("FRAUDLAKE_CLICKHOUSE_DSN is unset: no cases to read")
    return CaseAccess(settings.clickhouse_dsn.get_secret_value(), settings.clickhouse_database)


# The agent's module is imported by `agent_service` on first use, never by the scoring routes: the
# alias names it as a string.
Agent = Annotated["AgentService", Depends(agent_service)]
Pipelines = Annotated[PipelineSource, Depends(pipeline_source)]
Cases = Annotated["CaseAccess", Depends(case_access)]
