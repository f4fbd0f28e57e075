"""OpenTelemetry tracing for every Fraudlake process, off unless an OTLP endpoint is configured.

One call per process, `configure_tracing(service, endpoint)`, installs the SDK's tracer provider with a
batching OTLP/HTTP exporter (endpoint e.g. http://otel-collector:4318; the exporter appends
/v1/traces). Until then OpenTelemetry's API hands out no-op tracers, so the spans below cost next to
nothing when tracing is off, and nothing is wrapped at all where wrapping would cost per call.

What is traced, and where the code lives:
- HTTP requests of the API: the FastAPI instrumentation (fraudlake.api.main).
- ClickHouse calls: `trace_clickhouse(client)` wraps a client's query/command/insert methods
  (fraudlake.clickhouse.client.connect does it for every client when tracing is on).
- Kafka: producers put the W3C `traceparent` of their span into the record's headers
  (`inject_headers`); consumers continue or link to it (`extract_context`), so one transaction can be
  followed from the producer through the stream scorer to its decision.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter

TRACER_NAME = "fraudlake"
# Longest SQL text recorded on a span (statements with inlined values can be large).
MAX_STATEMENT_CHARS = 2000

_provider: TracerProvider | None = None

F = TypeVar("F", bound=Callable[..., Any])


class TracingConfigError(ValueError):
    """The OTLP endpoint is not an http(s) URL."""


def configure_tracing(
    service: str, endpoint: str | None, exporter: SpanExporter | None = None
) -> TracerProvider | None:
    """Install tracing for this process; None (and tracing stays off) without endpoint or exporter.

    `exporter` replaces the OTLP exporter (tests use an in-memory one, exported synchronously).
    A second call keeps the first provider: OpenTelemetry allows one global provider per process.
    """
    global _provider
    if _provider is not None:
        return _provider
    if exporter is None and not endpoint:
        return None
    if exporter is None:
        exporter = _otlp_exporter(str(endpoint))
        processor: Any = BatchSpanProcessor(exporter)
    else:
        processor = SimpleSpanProcessor(exporter)
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    _provider = provider
    return provider


def _otlp_exporter(endpoint: str) -> SpanExporter:
    if not endpoint.startswith(("http://", "https://")):
        raise TracingConfigError(f"OTLP endpoint must be an http(s) URL, got {endpoint!r}")
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")


def tracing_enabled() -> bool:
    return _provider is not None


def shutdown_tracing() -> None:
    """Flush spans still queued for export (at process exit)."""
    if _provider is not None:
        _provider.shutdown()


def tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME)


# --- Kafka ---------------------------------------------------------------------------------------------


def inject_headers(headers: list[tuple[str, bytes]] | None = None) -> list[tuple[str, bytes]]:
    """`headers` plus the current span's W3C trace context (unchanged when tracing is off)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return [*(headers or []), *((key, value.encode()) for key, value in carrier.items())]


def extract_context(headers: Iterable[tuple[str, Any]] | Mapping[str, Any] | None) -> context.Context:
    """The trace context a producer put into a record's headers (an empty context if none)."""
    pairs = headers.items() if isinstance(headers, Mapping) else (headers or [])
    carrier = {
        key: value.decode() if isinstance(value, bytes) else str(value)
        for key, value in pairs
        if value is not None
    }
    return propagate.extract(carrier)


def links_from(headers_of_records: Iterable[Any]) -> list[trace.Link]:
    """Links to the producer spans of a batch's records (a batch span has many parents)."""
    links = []
    for headers in headers_of_records:
        span_context = trace.get_current_span(extract_context(headers)).get_span_context()
        if span_context.is_valid:
            links.append(trace.Link(span_context))
    return links


# --- ClickHouse ----------------------------------------------------------------------------------------

_CLICKHOUSE_METHODS = ("query", "command", "insert", "raw_query", "query_arrow", "insert_arrow")


def trace_clickhouse(client: Any) -> Any:
    """Wrap `client`'s query/command/insert methods in client spans (db.system=clickhouse)."""
    for name in _CLICKHOUSE_METHODS:
        method = getattr(client, name, None)
        if method is not None and not getattr(method, "_fraudlake_traced", False):
            setattr(client, name, _traced_call(method, f"clickhouse {name}", client.database))
    return client


def _traced_call(method: F, span_name: str, database: str | None) -> F:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        first = args[0] if args and isinstance(args[0], str) else kwargs.get("query", "")
        attributes = {"db.system": "clickhouse", "db.name": database or ""}
        if first:  # an insert's first argument names the table; the others' is the SQL text
            key = "db.sql.table" if span_name.startswith("clickhouse insert") else "db.statement"
            attributes[key] = str(first)[:MAX_STATEMENT_CHARS]
        with tracer().start_as_current_span(span_name, kind=trace.SpanKind.CLIENT, attributes=attributes):
            return method(*args, **kwargs)

    call._fraudlake_traced = True  # type: ignore[attr-defined]
    return call  # type: ignore[return-value]
