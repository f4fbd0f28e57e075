"""A local ClickHouse server: the one process that owns a chDB data directory, serving ClickHouse's
HTTP interface so every other process reaches the data over HTTP, as against a real server.

chDB (the real ClickHouse engine, in-process) has no server mode and allows one engine per
process; this process hosts that engine and answers the part of the HTTP interface that
clickhouse-connect uses (``fraudlake.local.chdb_http.protocol``): queries in any output format,
commands, ``INSERT … FORMAT f`` with the data in the body (Content-Encoding lz4/zstd/gzip/deflate),
sessions (``session_id``), URL settings and ``param_*`` bind parameters, compressed responses,
basic/X-ClickHouse-User authentication, errors in the real server's shape, and ``GET /ping``.

Engine calls are serialized by one lock: chDB runs one statement at a time here. Each HTTP
session gets its own chDB connection (its own current database and SET state); requests without
a session, GET requests (read-only, as on a real server) and requests that set ``readonly`` run
on a connection of their own that is closed afterwards. Refused, with NOT_IMPLEMENTED: external
data and form-encoded queries (multipart/form-data), ``compress=1``/``decompress=1`` (ClickHouse's
native block compression), ``role=``. Results are sent once complete (``wait_end_of_query``
semantics, no progress headers), and ``client_protocol_version`` is ignored: Native output is
written as at protocol 0, which clickhouse-connect detects at connect time.

    fraudlake clickhouse serve --path DIR [--host 127.0.0.1] [--port 8123]
"""

from __future__ import annotations

import json
import logging
import re
import signal
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fraudlake.clickhouse.migrations import CHDB_KAFKA_LIMITATION, creates_kafka_table
from fraudlake.local.chdb_http.protocol import (
    ClickHouseHTTPError,
    InsertWithData,
    RequestParams,
    check_credentials,
    content_type,
    credentials,
    decode_body,
    encode_body,
    engine_error,
    first_word,
    http_status,
    is_set_statement,
    not_implemented,
    output_format,
    produces_result,
    request_sql,
    response_encoding,
    split_insert,
    split_params,
    sql_string,
)

log = logging.getLogger("fraudlake.local.chdb_http.server")


@dataclass
class EngineResult:
    body: bytes
    format: str | None  # announced in X-ClickHouse-Format: the statement produced a result set
    summary: dict[str, str]


@dataclass
class _Connection:
    """One chDB connection: its own current database and SET state (an HTTP session's state).

    `url_settings` are the settings the previous request of the session passed as URL
    parameters (left applied, since a client sends the same ones every time); `originals` are
    the session's own values from before them, restored when a request no longer passes them.
    """

    conn: Any
    temporary: bool
    timeout_s: float = 0.0
    last_used: float = 0.0
    database: str | None = None
    url_settings: dict[str, str] = field(default_factory=dict)
    originals: dict[str, tuple[str, bool]] = field(default_factory=dict)

    def query(self, sql: str, fmt: str = "TabSeparated", bind: Mapping[str, str] | None = None) -> Any:
        try:
            return self.conn.query(sql, fmt, params=dict(bind or {}))
        except Exception as exc:  # chDB raises ChdbError/RuntimeError with the engine's message
            raise engine_error(str(exc)) from exc

    def use(self, database: str) -> None:
        if database and database != self.database:
            self.query(f"USE {quote_identifier(database)}")
            self.database = database

    def apply_url_settings(self, wanted: Mapping[str, str]) -> None:
        """Apply this request's URL settings; restore those the previous request set and this one does not."""
        if not self.temporary:
            new = [name for name in wanted if name not in self.originals]
            if new:
                self.originals |= self._current_values(new)
            for name in [name for name in self.url_settings if name not in wanted]:
                self._restore(name)
        for name, value in wanted.items():
            if self.url_settings.get(name) != value:
                self.query(f"SET {setting_name(name)} = {sql_string(value)}")
                self.url_settings[name] = value

    def drop_url_settings(self) -> None:
        """Back to the session's own settings (before a SET statement changes them)."""
        for name in list(self.url_settings):
            self._restore(name)

    def _current_values(self, names: list[str]) -> dict[str, tuple[str, bool]]:
        listed = ", ".join(sql_string(setting_name(name)) for name in names)
        rows = self.query(
            f"SELECT name, value, changed FROM system.settings WHERE name IN ({listed})", "JSONEachRow"
        ).bytes()
        found = {
            row["name"]: (row["value"], bool(row["changed"])) for row in map(json.loads, rows.splitlines())
        }
        return {name: found.get(name, ("", False)) for name in names}

    def _restore(self, name: str) -> None:
        value, changed = self.originals.pop(name, ("", False))
        self.url_settings.pop(name, None)
        self.query(f"SET {setting_name(name)} = {sql_string(value) if changed else 'DEFAULT'}")

    def close(self) -> None:
        self.conn.close()


_SETTING_NAME = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]*\Z")


def setting_name(name: str) -> str:
    """`name` if it can be spliced into SET (it comes from a URL parameter)."""
    if not _SETTING_NAME.match(name):
        raise ClickHouseHTTPError(115, "UNKNOWN_SETTING", f"Unknown setting '{name}'")
    return name


def quote_identifier(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


class Engine:
    """The process's one chDB engine on `path`, its HTTP sessions, and the lock that serializes it."""

    def __init__(self, path: Path) -> None:
        import chdb  # only the server process loads the engine

        self.path = path.resolve()
        self.path.mkdir(parents=True, exist_ok=True)
        self._chdb = chdb
        self._anchor = chdb.connect(str(self.path))  # keeps the engine open between requests
        self._lock = threading.Lock()
        self._sessions: dict[str, _Connection] = {}
        self._spool = Path(tempfile.mkdtemp(prefix="fraudlake-clickhouse-inserts-"))
        version, timezone = (
            self._anchor.query("SELECT version(), timezone()", "TabSeparated").bytes().split(b"\t")
        )
        self.version, self.timezone = version.decode(), timezone.decode().strip()

    def run(self, sql: bytes, request: RequestParams, readonly: bool) -> EngineResult:
        insert = split_insert(sql)
        spooled = self._spool_data(insert) if insert else None
        try:
            with self._lock:
                connection = self._connection(request, readonly)
                try:
                    return self._execute(connection, sql, insert, spooled, request)
                finally:
                    if connection.temporary:
                        connection.close()
                    else:
                        connection.last_used = time.monotonic()
        finally:
            if spooled:
                spooled.unlink(missing_ok=True)

    def close(self) -> None:
        with self._lock:
            for connection in self._sessions.values():
                connection.close()
            self._sessions.clear()
            self._anchor.close()
        for leftover in self._spool.iterdir():
            leftover.unlink(missing_ok=True)
        self._spool.rmdir()

    def _spool_data(self, insert: InsertWithData) -> Path:
        """chDB reads insert data from a file (FROM INFILE), not a request body; written outside the lock."""
        path = self._spool / f"{uuid.uuid4().hex}.{insert.format.lower()}"
        path.write_bytes(insert.data)
        return path

    def _connection(self, request: RequestParams, readonly: bool) -> _Connection:
        self._expire_sessions()
        # readonly cannot be reset once set, so it never touches a session's connection.
        if not request.session_id or readonly or "readonly" in request.settings:
            connection = _Connection(self._chdb.connect(str(self.path)), temporary=True)
            if readonly and "readonly" not in request.settings:
                connection.query("SET readonly = 2")  # a GET request: read-only, settings allowed
            return connection
        session = self._sessions.get(request.session_id)
        if session is None:
            if request.session_check:
                raise ClickHouseHTTPError(372, "SESSION_NOT_FOUND", f"Session {request.session_id} not found")
            session = _Connection(self._chdb.connect(str(self.path)), temporary=False)
            self._sessions[request.session_id] = session
        session.timeout_s = request.session_timeout_s
        return session

    def _expire_sessions(self) -> None:
        now = time.monotonic()
        for session_id, connection in list(self._sessions.items()):
            if now - connection.last_used > connection.timeout_s:
                connection.close()
                del self._sessions[session_id]

    def _execute(
        self,
        connection: _Connection,
        sql: bytes,
        insert: InsertWithData | None,
        spooled: Path | None,
        request: RequestParams,
    ) -> EngineResult:
        connection.use(request.database)
        if insert and spooled:
            connection.apply_url_settings(request.settings)
            result = connection.query(insert.from_file(str(spooled)), bind=request.bind)
            return EngineResult(b"", None, summary(result, 0))
        text = sql.decode("utf-8", errors="replace")
        if creates_kafka_table(text) and first_word(text) in ("CREATE", "ATTACH"):
            raise not_implemented(f"A Kafka-engine table ({CHDB_KAFKA_LIMITATION})")
        if is_set_statement(text):
            connection.drop_url_settings()  # the SET changes the session's own values
        else:
            connection.apply_url_settings(request.settings)
        result = connection.query(text, request.default_format, request.bind)
        if first_word(text) == "USE":
            connection.database = None  # the statement moved the connection: re-apply `database` next time
        body = result.bytes() or b""
        fmt = output_format(text, request.default_format) if body or produces_result(text) else None
        return EngineResult(body, fmt, summary(result, len(body)))


def summary(result: Any, result_bytes: int) -> dict[str, str]:
    """X-ClickHouse-Summary from chDB's statistics (an INFILE insert's written counts included)."""
    return {
        "read_rows": str(result.rows_read()),
        "read_bytes": str(result.bytes_read()),
        "written_rows": str(result.rows_written()),
        "written_bytes": str(result.bytes_written()),
        "result_bytes": str(result_bytes),
        "elapsed_ns": str(int(result.elapsed() * 1e9)),
    }


# -- HTTP ----------------------------------------------------------------------------------------


class ClickHouseHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], engine: Engine, user: str, password: str) -> None:
        super().__init__(address, _Handler)
        self.engine, self.user_password = engine, (user, password)
        self.display_name = socket.gethostname()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clickhouse-connect pools its connections
    # Headers and body go out as two writes; with Nagle's algorithm the body waits for the
    # client's delayed ACK (~40 ms per request on loopback).
    disable_nagle_algorithm = True
    server: ClickHouseHTTPServer

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/ping" or (url.path == "/" and not url.query):
            self._send(200, b"Ok.\n", {"Content-Type": "text/html; charset=UTF-8"})
        elif url.path == "/":
            self._query(readonly=True)
        else:
            self._send(404, b"There is no handle " + url.path.encode() + b"\n", {})

    def do_POST(self) -> None:
        if urlsplit(self.path).path == "/":
            self._query(readonly=False)
        else:
            self._read_body()
            self._send(404, b"There is no handle " + urlsplit(self.path).path.encode() + b"\n", {})

    def _query(self, readonly: bool) -> None:
        params = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
        query_id = params.get("query_id") or str(uuid.uuid4())
        headers = {
            "X-ClickHouse-Query-Id": query_id,
            "X-ClickHouse-Server-Display-Name": self.server.display_name,
            "X-ClickHouse-Timezone": self.server.engine.timezone,
        }
        try:
            body = self._read_body()
            check_credentials(credentials(self.headers, params), self.server.user_password)
            request = split_params(params)
            if self.headers.get("Content-Type", "").startswith("multipart/form-data"):
                raise not_implemented("multipart/form-data (external data, form-encoded query parameters)")
            sql = request_sql(request.query, decode_body(body, self.headers.get("Content-Encoding", "")))
            if not sql.strip():
                raise ClickHouseHTTPError(62, "SYNTAX_ERROR", "Empty query")
            result = self.server.engine.run(sql, request, readonly)
        except ClickHouseHTTPError as exc:
            log.info("query %s failed: %s", query_id, exc.text.splitlines()[0][:300])
            self._send_error(exc, headers)
            return
        except Exception as exc:  # a fault of this server (disk full, a bug): still answer, in shape
            log.exception("query %s: internal error", query_id)
            self.close_connection = True  # the request body may not have been read to its end
            self._send_error(
                ClickHouseHTTPError(1001, "STD_EXCEPTION", f"{type(exc).__name__}: {exc}"), headers
            )
            return
        headers["X-ClickHouse-Summary"] = json.dumps(result.summary)
        if result.format:
            headers |= {"X-ClickHouse-Format": result.format, "Content-Type": content_type(result.format)}
        else:
            headers["Content-Type"] = "text/plain; charset=UTF-8"
        payload = result.body
        encoding = (
            response_encoding(self.headers.get("Accept-Encoding", "")) if request.compress_response else None
        )
        if encoding and payload:
            payload = encode_body(payload, encoding)
            headers["Content-Encoding"] = encoding
        self._send(200, payload, headers)

    def _send_error(self, error: ClickHouseHTTPError, headers: dict[str, str]) -> None:
        headers |= {
            "X-ClickHouse-Exception-Code": str(error.code),
            "Content-Type": "text/plain; charset=UTF-8",
        }
        self._send(http_status(error), error.body(self.server.engine.version), headers)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailer fields
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()  # the CRLF after each chunk

    def _send(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


def serve(
    path: Path, host: str = "127.0.0.1", port: int = 8123, user: str = "default", password: str = ""
) -> None:
    """Open the engine on `path`, serve HTTP on host:port (0 = any free port) until SIGTERM/SIGINT."""
    engine = Engine(path)
    try:
        server = ClickHouseHTTPServer((host, port), engine, user, password)
    except BaseException:
        engine.close()
        raise

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        threading.Thread(target=server.shutdown, name="shutdown", daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(
        f"ClickHouse {engine.version} (chDB) HTTP interface on http://{host}:{server.server_port} "
        f"(data {engine.path})",
        flush=True,
    )
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        engine.close()
        log.info("stopped; engine closed")
