"""The subset of ClickHouse's HTTP interface that clickhouse-connect speaks, as pure functions.

Used by the local ClickHouse server in front of chDB (``fraudlake.local.chdb_http.server`` and its
``engine``). Nothing here touches the engine: URL parameters are split into HTTP-layer parameters,
bind parameters and ClickHouse settings; a request's SQL is assembled from the ``query`` parameter
and the body the way the real server does (``query`` + newline + body); an ``INSERT … FORMAT f``
with inline data is split into the statement and its data; engine errors become the real server's
answer (HTTP status by error code, ``X-ClickHouse-Exception-Code``, ``Code: N. DB::Exception: …
(NAME)``).
"""

from __future__ import annotations

import base64
import gzip
import hmac
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from email import policy
from email.message import Message
from email.parser import BytesParser

import lz4.frame  # type: ignore[import-untyped]
from backports import zstd

from fraudlake.clickhouse.migrations import sql_string

# URL parameters the HTTP layer consumes; everything else that is not param_* is a ClickHouse
# setting applied to the query (an unknown name fails in the engine with UNKNOWN_SETTING, as on
# a real server).
HTTP_PARAMETERS = frozenset(
    {
        "query",
        "database",
        "default_format",
        "user",
        "password",
        "session_id",
        "session_timeout",
        "session_check",
        "query_id",
        "quota_key",
        "buffer_size",
        "wait_end_of_query",
        "client_protocol_version",
        "compress",
        "decompress",
        "role",
        # Real settings, but they only shape the HTTP response: this server always answers
        # once the query has finished (wait_end_of_query), sends no progress headers, and
        # compresses the response when enable_http_compression=1 asks for it.
        "enable_http_compression",
        "send_progress_in_http_headers",
        "http_headers_progress_interval_ms",
    }
)
BIND_PREFIX = "param_"
DEFAULT_FORMAT = "TabSeparated"
DEFAULT_SESSION_TIMEOUT_S = 60.0

# Content-Encoding values this server reads and writes (brotli is not installed here).
ENCODINGS = ("lz4", "zstd", "gzip", "deflate")


class ClickHouseHTTPError(Exception):
    """A refusal in ClickHouse's own shape: ``Code: N. DB::Exception: message. (NAME)``."""

    def __init__(self, code: int, name: str, message: str, text: str = "") -> None:
        self.code, self.name = code, name
        self.text = text or f"Code: {code}. DB::Exception: {message}. ({name})"
        super().__init__(self.text)

    def body(self, version: str) -> bytes:
        """The response body: the exception and the server version, as clickhouse-server writes it."""
        return f"{self.text} (version {version})\n".encode()


def not_implemented(what: str) -> ClickHouseHTTPError:
    return ClickHouseHTTPError(48, "NOT_IMPLEMENTED", f"{what} is not supported by this local server")


def form_fields(content_type_header: str, body: bytes) -> dict[str, str]:
    """The plain fields of a multipart/form-data body: the query and its ``param_*`` values, which
    clickhouse-connect sends this way once the bind parameters are too long for the URL (4 KiB).

    A part with a file name is external data, which this server does not serve.
    """
    head = f"Content-Type: {content_type_header}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise ClickHouseHTTPError(
            27, "CANNOT_PARSE_INPUT_ASSERTION_FAILED", "malformed multipart/form-data body"
        )
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        if part.get_filename() is not None:
            raise not_implemented("external data (multipart/form-data file parts)")
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(payload, bytes):
            raise ClickHouseHTTPError(27, "CANNOT_PARSE_INPUT_ASSERTION_FAILED", "a form part without a name")
        fields[name] = payload.decode()
    return fields


@dataclass(frozen=True)
class RequestParams:
    """A request's URL parameters, sorted by who consumes them."""

    query: str = ""
    database: str = ""
    default_format: str = DEFAULT_FORMAT
    session_id: str = ""
    session_timeout_s: float = DEFAULT_SESSION_TIMEOUT_S
    session_check: bool = False
    query_id: str = ""
    compress_response: bool = False
    bind: dict[str, str] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)


def split_params(params: Mapping[str, str]) -> RequestParams:
    """Sort URL parameters; refuse the ones whose behaviour this server cannot reproduce."""
    if params.get("compress", "0") not in ("", "0") or params.get("decompress", "0") not in ("", "0"):
        # ClickHouse's own block compression (CityHash128 checksums + LZ4/ZSTD blocks).
        raise not_implemented("compress=1/decompress=1 (native block compression; use Content-Encoding)")
    if params.get("role"):
        raise not_implemented("role= (chDB has no access control)")
    try:
        timeout = float(params.get("session_timeout") or DEFAULT_SESSION_TIMEOUT_S)
    except ValueError:
        raise ClickHouseHTTPError(
            36, "BAD_ARGUMENTS", f"Invalid session timeout: '{params['session_timeout']}'"
        ) from None
    return RequestParams(
        query=params.get("query", ""),
        database=params.get("database", ""),
        default_format=params.get("default_format") or DEFAULT_FORMAT,
        session_id=params.get("session_id", ""),
        session_timeout_s=timeout,
        session_check=params.get("session_check", "0") not in ("", "0"),
        query_id=params.get("query_id", ""),
        compress_response=params.get("enable_http_compression", "0") not in ("", "0"),
        bind={k[len(BIND_PREFIX) :]: v for k, v in params.items() if k.startswith(BIND_PREFIX)},
        settings={
            k: v for k, v in params.items() if k not in HTTP_PARAMETERS and not k.startswith(BIND_PREFIX)
        },
    )


# -- authentication ------------------------------------------------------------------------------


def credentials(headers: Mapping[str, str] | Message, params: Mapping[str, str]) -> tuple[str, str]:
    """(user, password) from X-ClickHouse-User/Key, Basic auth, or user/password parameters.

    `headers` may be the request's case-insensitive Message (http.server) or a plain mapping.
    """
    user = headers.get("X-ClickHouse-User")
    if user is not None:
        return user, headers.get("X-ClickHouse-Key") or ""
    authorization = headers.get("Authorization") or ""
    if authorization.startswith("Basic "):
        try:
            user, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise ClickHouseHTTPError(36, "BAD_ARGUMENTS", "Malformed Basic authentication header") from None
        return user, password
    if authorization:
        raise ClickHouseHTTPError(
            516, "AUTHENTICATION_FAILED", "Only Basic authentication is supported by this local server"
        )
    return params.get("user", "default"), params.get("password", "")


def check_credentials(given: tuple[str, str], expected: tuple[str, str]) -> None:
    """ClickHouse's AUTHENTICATION_FAILED (516 → HTTP 403) unless user and password match."""
    user_ok = hmac.compare_digest(given[0].encode(), expected[0].encode())
    password_ok = hmac.compare_digest(given[1].encode(), expected[1].encode())
    if not (user_ok and password_ok):
        raise ClickHouseHTTPError(
            516,
            "AUTHENTICATION_FAILED",
            f"{given[0]}: Authentication failed: password is incorrect, or there is no user with such name",
        )


# -- the SQL and the data of a request -----------------------------------------------------------


def request_sql(query_param: str, body: bytes) -> bytes:
    """The query text as the real server reads it: the ``query`` parameter, a newline, the body."""
    if query_param and body:
        return query_param.encode() + b"\n" + body
    return query_param.encode() or body


# INSERT INTO table [(columns)] [SETTINGS …] FORMAT name, then inline data. Table and column
# names may be backquoted; a column list holds no parentheses (clickhouse-connect writes names).
_INSERT_WITH_FORMAT = re.compile(
    rb"\A\s*INSERT\s+INTO\s+(?:TABLE\s+)?(?P<table>(?:`[^`]*`|\"[^\"]*\"|[\w.])+)\s*"
    rb"(?P<columns>\([^()]*\))?\s*"
    rb"(?:SETTINGS\s+(?P<settings>.*?)\s+)?"
    rb"FORMAT\s+(?P<format>\w+)",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True)
class InsertWithData:
    """``INSERT INTO table (columns) [SETTINGS s] FORMAT f`` and the bytes that followed it."""

    table: str
    columns: str
    settings: str
    format: str
    data: bytes

    def from_file(self, path: str) -> str:
        """The same insert reading its data from `path` (chDB takes no request body)."""
        settings = f" SETTINGS {self.settings}" if self.settings else ""
        columns = f" {self.columns}" if self.columns else ""
        source = f"FROM INFILE {sql_string(path)}{settings}"
        return f"INSERT INTO {self.table}{columns} {source} FORMAT {self.format}"


def split_insert(sql: bytes) -> InsertWithData | None:
    """The statement and its inline data, for ``INSERT … FORMAT f <data>``; None for other SQL.

    The data starts after the first newline following the format name, or after the whitespace
    there if no newline follows (the real server's rule; binary formats rely on the newline).
    """
    match = _INSERT_WITH_FORMAT.match(sql)
    if match is None:
        return None
    rest = sql[match.end() :]
    blank = len(rest) - len(rest.lstrip(b" \t\r\n"))
    newline = rest.find(b"\n", 0, blank)
    data = rest[newline + 1 :] if newline >= 0 else rest[blank:]
    return InsertWithData(
        table=match["table"].decode(),
        columns=(match["columns"] or b"").decode(),
        settings=(match["settings"] or b"").decode().strip(),
        format=match["format"].decode(),
        data=data,
    )


_TRAILING_FORMAT = re.compile(r"\bFORMAT\s+(\w+)\s*;?\s*$", re.IGNORECASE)
_LEADING_NOISE = re.compile(r"\A(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/|\()*", re.DOTALL)
# Statements that produce a result set (ClickHouse's ASTQueryWithOutput): the server announces
# their format in X-ClickHouse-Format even when they return no rows.
_RESULT_STATEMENTS = frozenset({"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXISTS", "EXPLAIN", "CHECK"})


def output_format(sql: str, default_format: str) -> str:
    match = _TRAILING_FORMAT.search(sql)
    return match.group(1) if match else default_format


def first_word(sql: str) -> str:
    """The statement's first keyword, upper-cased, past comments and opening parentheses."""
    words = sql[_LEADING_NOISE.match(sql).end() :].split(None, 1)  # type: ignore[union-attr]
    return words[0].upper() if words else ""


def produces_result(sql: str) -> bool:
    return first_word(sql) in _RESULT_STATEMENTS


def is_set_statement(sql: str) -> bool:
    return first_word(sql) == "SET"


def content_type(fmt: str) -> str:
    """The Content-Type the real server sends for an output format."""
    name = fmt.lower()
    if name.startswith(("tabseparated", "tsv")):
        return "text/tab-separated-values; charset=UTF-8"
    if name.startswith("csv"):
        return "text/csv; charset=UTF-8; header=" + ("present" if "withnames" in name else "absent")
    if name.startswith("json"):
        return "application/json; charset=UTF-8"
    if name in ("native", "rowbinary", "parquet", "arrow", "arrowstream", "orc", "avro") or name.startswith(
        "rowbinary"
    ):
        return "application/octet-stream"
    return "text/plain; charset=UTF-8"


# -- engine errors in the real server's shape ----------------------------------------------------

_ENGINE_ERROR = re.compile(r"\ACode:\s*(?P<code>\d+)\.\s*DB::Exception:.*\((?P<name>\w+)\)\s*\Z", re.DOTALL)


def engine_error(message: str) -> ClickHouseHTTPError:
    """chDB's ``Code: N. DB::Exception: text. (NAME)`` as a ClickHouseHTTPError, text unchanged."""
    start = message.find("Code: ")
    text = message[start:].strip() if start >= 0 else message.strip()
    match = _ENGINE_ERROR.match(text)
    if match is None:
        return ClickHouseHTTPError(1001, "STD_EXCEPTION", text or "unknown engine error")
    return ClickHouseHTTPError(int(match["code"]), match["name"], "", text)


# ClickHouse's exceptionCodeToHTTPStatus (src/Server/HTTP/exceptionCodeToHTTPStatus.cpp), by name.
_ERRORS_BY_HTTP_STATUS = {
    401: "REQUIRED_PASSWORD",
    403: "UNKNOWN_USER WRONG_PASSWORD AUTHENTICATION_FAILED SET_NON_GRANTED_ROLE ACCESS_DENIED",
    400: """BAD_ARGUMENTS CANNOT_COMPILE_REGEXP CANNOT_PARSE_TEXT CANNOT_PARSE_ESCAPE_SEQUENCE
        CANNOT_PARSE_QUOTED_STRING CANNOT_PARSE_DATE CANNOT_PARSE_DATETIME CANNOT_PARSE_NUMBER
        CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING CANNOT_PARSE_IPV4 CANNOT_PARSE_IPV6
        CANNOT_PARSE_INPUT_ASSERTION_FAILED CANNOT_PARSE_UUID DUPLICATE_COLUMN ILLEGAL_COLUMN
        UNKNOWN_ELEMENT_IN_AST UNKNOWN_TYPE_OF_AST_NODE THERE_IS_NO_COLUMN TOO_DEEP_AST TOO_BIG_AST
        UNEXPECTED_AST_STRUCTURE SYNTAX_ERROR INCORRECT_DATA TYPE_MISMATCH
        VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE""",
    404: """UNKNOWN_TABLE UNKNOWN_FUNCTION UNKNOWN_IDENTIFIER UNKNOWN_TYPE UNKNOWN_STORAGE UNKNOWN_DATABASE
        UNKNOWN_SETTING UNKNOWN_DIRECTION_OF_SORTING UNKNOWN_AGGREGATE_FUNCTION UNKNOWN_FORMAT
        UNKNOWN_DATABASE_ENGINE UNKNOWN_TYPE_OF_QUERY UNKNOWN_ROLE""",
    413: "QUERY_IS_TOO_LARGE",
    501: "NOT_IMPLEMENTED",
    503: "SOCKET_TIMEOUT CANNOT_OPEN_FILE CANNOT_SCHEDULE_TASK",
    411: "HTTP_LENGTH_REQUIRED",
    408: "TIMEOUT_EXCEEDED",
    415: "UNSUPPORTED_MEDIA_TYPE",
}
_HTTP_STATUS_BY_ERROR = {
    name: status for status, names in _ERRORS_BY_HTTP_STATUS.items() for name in names.split()
}


def http_status(error: ClickHouseHTTPError) -> int:
    return _HTTP_STATUS_BY_ERROR.get(error.name, 500)


# -- Content-Encoding ----------------------------------------------------------------------------


def decode_body(body: bytes, encoding: str) -> bytes:
    """The request body without its Content-Encoding (clickhouse-connect's lz4 and zstd bodies
    are one frame per insert block, so every frame is read)."""
    encoding = encoding.strip().lower()
    try:
        if encoding in ("", "identity"):
            return body
        if encoding == "lz4":
            return _lz4_frames(body)
        if encoding == "zstd":
            return bytes(zstd.decompress(body))
        if encoding == "gzip":
            return gzip.decompress(body)  # every concatenated member
        if encoding == "deflate":
            return zlib.decompress(body)
    except (RuntimeError, ValueError, OSError, EOFError, zlib.error, zstd.ZstdError) as exc:
        raise ClickHouseHTTPError(
            271, "CANNOT_DECOMPRESS", f"Cannot decompress {encoding} body: {exc}"
        ) from exc
    raise ClickHouseHTTPError(89, "UNKNOWN_COMPRESSION_METHOD", f"Unknown compression method: {encoding}")


def _lz4_frames(body: bytes) -> bytes:
    out, rest = bytearray(), body
    while rest:
        decompressor = lz4.frame.LZ4FrameDecompressor()
        out += decompressor.decompress(rest)
        if not decompressor.eof:
            raise ValueError("truncated lz4 frame")
        rest = decompressor.unused_data
    return bytes(out)


def response_encoding(accept_encoding: str) -> str | None:
    """The first encoding the client accepts that this server can write."""
    for name in (part.split(";")[0].strip().lower() for part in accept_encoding.split(",")):
        if name in ENCODINGS:
            return name
    return None


def encode_body(body: bytes, encoding: str) -> bytes:
    if encoding == "lz4":
        return bytes(lz4.frame.compress(body))
    if encoding == "zstd":
        return bytes(zstd.compress(body))
    if encoding == "gzip":
        return gzip.compress(body, compresslevel=1)
    return zlib.compress(body)
