"""A local ClickHouse server: the one process that owns a chDB data directory, serving ClickHouse's
HTTP interface so every other process reaches the data over HTTP, as against a real server.

This module is the HTTP side; the statements run on the process's one chDB engine
(``fraudlake.local.chdb_http.engine``), and the interface's rules are pure functions in
``fraudlake.local.chdb_http.protocol``. Served: the part of the HTTP interface that
clickhouse-connect uses — queries in any output format, commands, ``INSERT … FORMAT f`` with the
data in the body (Content-Encoding lz4/zstd/gzip/deflate), sessions (``session_id``), URL settings
and ``param_*`` bind parameters, compressed responses, basic/X-ClickHouse-User authentication,
errors in the real server's shape, and ``GET /ping``.

Form-encoded queries (multipart/form-data: the query and ``param_*`` as fields, which
clickhouse-connect sends when bind parameters outgrow the URL) are read. Refused, with
NOT_IMPLEMENTED: external data (multipart file parts),
``compress=1``/``decompress=1`` (ClickHouse's native block compression), ``role=``. Results are
sent once complete (``wait_end_of_query`` semantics, no progress headers), and
``client_protocol_version`` is ignored: Native output is written as at protocol 0, which
clickhouse-connect detects at connect time.

    fraudlake clickhouse serve --path DIR [--host 127.0.0.1] [--port 8123] [--users-file users.xml]
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import threading
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fraudlake.local.chdb_http.engine import Engine
from fraudlake.local.chdb_http.protocol import (
    ClickHouseHTTPError,
    check_credentials,
    content_type,
    credentials,
    decode_body,
    encode_body,
    form_fields,
    http_status,
    request_sql,
    response_encoding,
    split_params,
)

log = logging.getLogger("fraudlake.local.chdb_http.server")


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
            if self.headers.get("Content-Type", "").startswith("multipart/form-data"):
                params |= form_fields(self.headers["Content-Type"], body)  # the query is a field
                body = b""
            request = split_params(params)
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
    path: Path,
    host: str = "127.0.0.1",
    port: int = 8123,
    user: str = "default",
    password: str = "",
    users_file: Path | None = None,
) -> None:
    """Open the engine on `path`, serve HTTP on host:port (0 = any free port) until SIGTERM/SIGINT.

    `users_file` (users.xml format) gives the engine's user a settings profile and grants.
    """
    engine = Engine(path, users_file)
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
