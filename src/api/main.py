"""Assembles the FastAPI app: settings, services, middleware, error handlers, routers.

Run it with `fraudlake api serve` (one uvicorn worker), or `uvicorn fraudlake.api.main:app`: the
module-level `app` is built on first access, so importing this module needs no configuration.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, FastAPI

from fraudlake.api.deps import complete_openapi, require_api_key
from fraudlake.api.errors import UnauthorizedError, error_responses, install_error_handlers
from fraudlake.api.middleware import RequestContextMiddleware
from fraudlake.api.routers import (
    agent,
    alerts,
    cases,
    drift,
    health,
    model,
    model_report,
    pipelines,
    rules,
    score,
)
from fraudlake.api.runtime import Services
from fraudlake.api.settings import ApiSettings, load_settings
from fraudlake.common import tracing
from fraudlake.ml.registry import ModelRegistry

# Routers without auth (probes, scrapers) and routers behind the API key. Add new resources here.
PUBLIC_ROUTERS: list[APIRouter] = [health.router]
PROTECTED_ROUTERS: list[APIRouter] = [
    score.router,
    model.router,
    model_report.router,
    drift.router,
    agent.router,
    alerts.router,
    pipelines.router,
    cases.router,
    rules.router,
]

DESCRIPTION = """Real-time card-fraud scores with reasons.

Authenticate with `X-API-Key: <key>` or `Authorization: Bearer <key>` (all routes but `/healthz`,
`/readyz`, `/metrics`). Errors share one body: `error` (code), `message`, `request_id`, `fields`.
Every response carries `X-Request-ID` (yours, if you sent a well-formed one)."""


def create_app(settings: ApiSettings | None = None, registry: ModelRegistry | None = None) -> FastAPI:
    """A ready-to-serve app. `registry` overrides the model store of the settings (tests)."""
    settings = settings or load_settings()
    services = Services(settings, registry)
    app = FastAPI(
        title="Fraudlake scoring API", version="1", description=DESCRIPTION, lifespan=services.lifespan
    )
    app.state.services = services
    install_error_handlers(app)
    app.add_middleware(
        RequestContextMiddleware, metrics=services.metrics, max_body_bytes=settings.max_body_bytes
    )
    for router in PUBLIC_ROUTERS:
        app.include_router(router)
    for router in PROTECTED_ROUTERS:
        app.include_router(
            router, dependencies=[Depends(require_api_key)], responses=error_responses(UnauthorizedError)
        )
    complete_openapi(app)
    _trace_requests(app, settings)
    return app


def _trace_requests(app: FastAPI, settings: ApiSettings) -> None:
    """Spans for requests when tracing is configured (probes and scrapes are left out: noise)."""
    if tracing.configure_tracing("fraudlake-api", settings.otlp_endpoint) is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics")


_app: FastAPI | None = None


def __getattr__(name: str) -> Any:
    """`fraudlake.api.main:app` for uvicorn: built (and the environment checked) on first access."""
    global _app
    if name != "app":
        raise AttributeError(name)
    if _app is None:
        from fraudlake.api.logs import configure_logging

        settings = load_settings()
        configure_logging(settings.log_level)
        _app = create_app(settings)
    return _app
