"""Tracing: off by default, and when on, request → ClickHouse spans in one trace, OTLP/HTTP export that a
collector can decode, and Kafka headers that carry a producer's trace to its consumer's batch span.

The process-wide tracer provider can be installed once per process, so the app-level test runs in a
subprocess; the rest uses private providers and touches no global state."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from api_kit import api_settings
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from pydantic import ValidationError

from fraudlake.common import tracing
from fraudlake.stream.cli import scorer_app

pytestmark = pytest.mark.unit

APP_PROBE = textwrap.dedent(
    """
    import json, sys
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from fraudlake.common import tracing

    exporter = InMemorySpanExporter()
    tracing.configure_tracing("fraudlake-api", None, exporter=exporter)
    from fastapi.testclient import TestClient
    from fraudlake.api.main import create_app
    from fraudlake.clickhouse.client import connect

    sys.path.insert(0, sys.argv[2])
    from api_kit import AUTH, api_settings, registry_with

    dsn = "chdb://" + sys.argv[1]
    connect(dsn).command("CREATE DATABASE IF NOT EXISTS fraud_demo")
    exporter.clear()
    app = create_app(api_settings(clickhouse_dsn=dsn, clickhouse_database="fraud_demo"), registry_with())
    with TestClient(app) as client:
        status = client.post("/v1/sql", json={"sql": "SELECT 1 AS one"}, headers=AUTH).status_code
        client.get("/healthz")
    spans = [
        {"name": s.name, "kind": s.kind.name, "trace": s.context.trace_id, "id": s.context.span_id,
         "parent": s.parent.span_id if s.parent else None, "attributes": dict(s.attributes or {})}
        for s in exporter.get_finished_spans()
    ]
    print(json.dumps({"status": status, "spans": spans}))
    """
)


class _Client:
    database = "fraud_demo"

    def query(self, sql: str) -> str:
        return sql


def test_tracing_is_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not tracing.tracing_enabled()
    assert api_settings().otlp_endpoint is None
    from fraudlake.clickhouse import client as clickhouse

    # A stand-in client: chDB allows one engine per process, and the test session owns it.
    opened = _Client()
    monkeypatch.setattr(clickhouse, "_open", lambda *_: opened)
    # No wrapping (not even a no-op span per call) when the process does not trace.
    assert clickhouse.connect("chdb:///x") is opened
    assert not getattr(opened.query, "_fraudlake_traced", False)
    # What tracing would do to it: the same call, now through a span.
    traced = tracing.trace_clickhouse(_Client())
    assert traced.query._fraudlake_traced
    assert traced.query("SELECT 1") == "SELECT 1"


def test_a_request_and_its_clickhouse_query_are_one_trace(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", APP_PROBE, str(tmp_path / "ch"), str(Path(__file__).parent)],
        cwd=tmp_path,  # not the checkout: its operator/ folder would shadow the stdlib module
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] == 200
    spans = result["spans"]
    request = next(s for s in spans if s["name"] == "POST /v1/sql" and s["kind"] == "SERVER")
    query = next(s for s in spans if s["name"] == "clickhouse query")
    assert query["kind"] == "CLIENT"
    assert query["trace"] == request["trace"], "the query belongs to the request's trace"
    assert query["attributes"]["db.system"] == "clickhouse"
    assert query["attributes"]["db.name"] == "fraud_demo"
    assert query["attributes"]["db.statement"].startswith("SELECT 1 AS one")
    assert not any("healthz" in s["name"] for s in spans), "probes are not traced"


class _Collector(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Collector.received.append((self.path, body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[str]:
    _Collector.received = []
    server = HTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_spans_reach_an_otlp_http_collector(collector: str) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(tracing._otlp_exporter(collector + "/")))
    with provider.get_tracer("test").start_as_current_span("score batch", attributes={"n": 3}):
        pass
    provider.shutdown()
    paths = [path for path, _ in _Collector.received]
    assert paths == ["/v1/traces"]
    request = ExportTraceServiceRequest.FromString(_Collector.received[0][1])
    names = [s.name for r in request.resource_spans for ss in r.scope_spans for s in ss.spans]
    assert names == ["score batch"]


def test_a_bad_endpoint_is_refused_before_anything_starts() -> None:
    with pytest.raises(tracing.TracingConfigError, match="http"):
        tracing._otlp_exporter("otel-collector:4318")
    with pytest.raises(ValidationError, match="otlp_endpoint"):
        api_settings(otlp_endpoint="otel-collector:4318")
    from typer.testing import CliRunner

    result = CliRunner().invoke(
        scorer_app,
        [
            *("--pipeline", "fraud/demo", "--bootstrap-servers", "x:9092", "--model-uri", "file:///m"),
            *("--otlp-endpoint", "otel:4318"),
        ],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 2, result.output
    assert "--otlp-endpoint" in result.output, result.output


def test_kafka_headers_carry_the_producer_trace_to_the_batch_span() -> None:
    provider = TracerProvider()
    tracer = provider.get_tracer("test")
    assert tracing.inject_headers([("k", b"v")]) == [("k", b"v")], "no span, nothing added"
    with tracer.start_as_current_span("produce chunk") as produced:
        headers = tracing.inject_headers([("k", b"v")])
    assert headers[0] == ("k", b"v")
    assert dict(headers)["traceparent"].decode().startswith("00-")
    links = tracing.links_from([headers, None, [("other", b"x")]])
    assert [link.context.span_id for link in links] == [produced.get_span_context().span_id]
    assert links[0].context.trace_id == produced.get_span_context().trace_id
    with tracer.start_as_current_span("decide", context=tracing.extract_context(dict(headers))) as child:
        assert child.get_span_context().trace_id == produced.get_span_context().trace_id
