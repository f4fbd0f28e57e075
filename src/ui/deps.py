"""Where the UI gets its API client: one module-level factory, replaced by a fake in tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fraudlake.ui import identity, prometheus
from fraudlake.ui.client import client_from_env


def client_for_this_session() -> Any:
    """The API client acting for this session's analyst (the page checked the sign-in first)."""
    return client_from_env(analyst=identity.current_analyst().name)


# Tests assign a function returning a fake with the same methods as `FraudlakeClient`.
client_factory: Callable[[], Any] = client_for_this_session
# The Live tab's metrics source (None: no Prometheus configured); tests assign a fake too.
prometheus_factory: Callable[[], Any] = prometheus.client_from_env


def get_client() -> Any:
    """The API client for this script run (a `FraudlakeClient` outside tests)."""
    return client_factory()


def get_prometheus() -> Any:
    """The Prometheus client for the Live tab's charts (a `PrometheusClient`), or None when unset."""
    return prometheus_factory()
