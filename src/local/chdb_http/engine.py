"""The local ClickHouse server's engine: the one chDB engine of this process, its sessions and settings.

chDB (the real ClickHouse engine, in-process) has no server mode and allows one engine per process;
:class:`Engine` opens it on a data directory and runs one statement at a time for the HTTP layer
(``fraudlake.local.chdb_http.server``). Engine calls are serialized by one lock. Each HTTP session
gets its own chDB connection (its own current database and SET state); requests without a session,
read-only requests (GET, as on a real server) and requests that set ``readonly`` run on a
connection of their own that is closed afterwards. URL settings are applied per request and the
session's own values restored when a later request no longer passes them. ``INSERT … FORMAT f``
data is spooled to a file and read with ``FROM INFILE`` (chDB reads no request body); Kafka-engine
tables are refused with NOT_IMPLEMENTED (chDB's consumer fails and can leave the data directory
unopenable).

With a users file (ClickHouse's users.xml format) the engine loads ClickHouse's own access control:
chDB runs every statement as its ``default`` user, so the file's ``default`` user (its settings
profile, e.g. ``readonly=1`` and query limits, and its ``<grants>``) is who every request is, and
the engine itself refuses what that user may not do, exactly as a server would.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from fraudlake.clickhouse.migrations import CHDB_KAFKA_LIMITATION, creates_kafka_table
from fraudlake.local.chdb_http.protocol import (
    ClickHouseHTTPError,
    InsertWithData,
    RequestParams,
    engine_error,
    first_word,
    is_set_statement,
    not_implemented,
    output_format,
    produces_result,
    split_insert,
    sql_string,
)


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
            self._discard_partial_output()
            raise engine_error(str(exc)) from exc

    def _discard_partial_output(self) -> None:
        """chDB keeps what a failed query had written (e.g. rows before max_result_rows threw) and
        prepends it to the connection's next result; a throwaway query takes it instead."""
        with contextlib.suppress(Exception):  # the original error is the one to report
            self.conn.query("SELECT 1", "TabSeparated")

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

    def __init__(self, path: Path, users_file: Path | None = None) -> None:
        import chdb  # only the server process loads the engine

        self.path = path.resolve()
        self.path.mkdir(parents=True, exist_ok=True)
        self._chdb = chdb
        self._spool = Path(tempfile.mkdtemp(prefix="fraudlake-clickhouse-inserts-"))
        # The engine's startup options come with its first connection; later ones share the engine.
        try:
            self._anchor = chdb.connect(engine_dsn(self.path, users_file, self._spool))  # keeps it open
        except BaseException:
            shutil.rmtree(self._spool, ignore_errors=True)
            raise
        self._lock = threading.Lock()
        self._sessions: dict[str, _Connection] = {}
        version, timezone, readonly = (
            self._anchor.query("SELECT version(), timezone(), getSetting('readonly')", "TabSeparated")
            .bytes()
            .split(b"\t")
        )
        self.version, self.timezone = version.decode(), timezone.decode().strip()
        # A user whose profile is read-only may not even raise readonly to 2 (a GET request's level).
        self.user_readonly = readonly.strip() != b"0"

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
            if readonly and "readonly" not in request.settings and not self.user_readonly:
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


def engine_dsn(path: Path, users_file: Path | None, scratch: Path) -> str:
    """chDB's connection string for `path`; with `users_file`, a config that loads it as users.xml.

    chDB (clickhouse-local) reads users only through a main config's ``user_directories``, so a
    one-line config naming the file is written to `scratch`.
    """
    if users_file is None:
        return str(path)
    users = users_file.resolve()
    if not users.is_file():
        raise FileNotFoundError(f"ClickHouse users file {users} does not exist")
    config = scratch / "config.xml"
    config.write_text(
        "<clickhouse><user_directories><users_xml>"
        f"<path>{xml_escape(str(users))}</path>"
        "</users_xml></user_directories></clickhouse>\n"
    )
    return f"{path}?config-file={config}"


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
