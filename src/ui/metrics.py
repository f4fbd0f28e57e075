"""Prometheus metrics of the console's calls to the scoring API (its only data source).

Streamlit serves its own port and has no place for /metrics, so the console process serves them on a
port of their own (`serve_from_env`: FRAUDLAKE_UI_METRICS_PORT, set by the Helm chart; unset, e.g. in
tests and plain local runs, serves nothing). Streamlit reruns the page script on every interaction but
imports this module once per process, so the registry and the server live for the process.
"""

from __future__ import annotations

import os
import threading

from prometheus_client import CollectorRegistry, Histogram, start_http_server

METRICS_PORT_ENV = "FRAUDLAKE_UI_METRICS_PORT"
# A page render waits on these calls: scoring answers in milliseconds, the agent's chat in seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Status of a call that got no HTTP answer.
UNREACHABLE = "unreachable"
TIMEOUT = "timeout"


class ApiCallMetrics:
    """One histogram of API calls by method, route template and status (its `_count` counts calls)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.calls = Histogram(
            "fraudlake_ui_api_request_duration_seconds",
            "The console's calls to the scoring API by method, route template and HTTP status "
            f"({UNREACHABLE} / {TIMEOUT} when the API did not answer).",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._server_port: int | None = None
        self._lock = threading.Lock()

    def observe(self, method: str, route: str, status: int | str, seconds: float) -> None:
        self.calls.labels(method, route, str(status)).observe(seconds)

    def serve(self, port: int, address: str = "0.0.0.0") -> int:  # noqa: S104 - scraped from other pods
        """Serve /metrics on `port` (0: any free port) once per process; return the bound port."""
        with self._lock:
            if self._server_port is None:
                server, _ = start_http_server(port, addr=address, registry=self.registry)
                self._server_port = int(server.server_address[1])
            return self._server_port


# The console process's metrics, shared by every client it builds.
API_CALLS = ApiCallMetrics()


def serve_from_env() -> int | None:
    """Start the console's /metrics server if FRAUDLAKE_UI_METRICS_PORT is set; the bound port."""
    port = os.environ.get(METRICS_PORT_ENV)
    if not port:
        return None
    try:
        number = int(port)
    except ValueError:
        raise ValueError(f"{METRICS_PORT_ENV} must be a port number, got {port!r}") from None
    return API_CALLS.serve(number)
