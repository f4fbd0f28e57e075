"""One way to open ClickHouse, whatever runs it.

Production DSN: ``http(s)://user:password@host:port/database`` (the ClickHouse server over HTTP).
Local/test DSN: ``chdb:///absolute/path`` (clickhouse-connect's in-process chDB backend: the real
ClickHouse engine, but only one process may own a data directory, so locally exactly one process
opens it and everything else goes through that process or the lake).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from fraudlake.common import tracing


class InvalidDsnError(ValueError):
    """The DSN is neither chdb:///path nor http(s)://host[:port][/database]."""


def connect(dsn: str, database: str | None = None, **settings: Any) -> Client:
    """Open a clickhouse-connect client for `dsn`; `settings` become per-query ClickHouse settings.

    When the process traces (fraudlake.common.tracing), every query, command and insert is a span."""
    client = _open(dsn, database, settings)
    return tracing.trace_clickhouse(client) if tracing.tracing_enabled() else client


def _open(dsn: str, database: str | None, settings: dict[str, Any]) -> Client:
    parts = urlsplit(dsn)
    if parts.scheme == "chdb":
        if not parts.path or parts.path == "/":
            raise InvalidDsnError(f"chdb DSN needs a data directory path: chdb:///path, got {dsn!r}")
        return clickhouse_connect.get_client(
            interface="chdb", path=parts.path, database=database or "default", settings=settings or None
        )
    if parts.scheme in ("http", "https"):
        if not parts.hostname:
            raise InvalidDsnError(f"ClickHouse DSN has no host: {dsn!r}")
        query = dict(parse_qsl(parts.query))
        return clickhouse_connect.get_client(
            interface=parts.scheme,
            host=parts.hostname,
            port=parts.port or (8443 if parts.scheme == "https" else 8123),
            username=unquote(parts.username or "default"),
            password=unquote(parts.password or ""),
            database=database or parts.path.strip("/") or "default",
            settings=settings or None,
            verify=query.get("verify", "true") != "false",
        )
    raise InvalidDsnError(
        f"unsupported ClickHouse DSN scheme {parts.scheme!r}; use chdb:///path or http(s)://…"
    )
