"""The HTTP-interface rules of the local ClickHouse server that need no engine."""

from __future__ import annotations

import base64
import gzip

import lz4.frame
import pytest

from fraudlake.local.chdb_http.protocol import (
    ClickHouseHTTPError,
    check_credentials,
    credentials,
    decode_body,
    engine_error,
    http_status,
    produces_result,
    request_sql,
    split_insert,
    split_params,
)

pytestmark = pytest.mark.unit


def test_params_are_sorted_into_http_bind_and_settings() -> None:
    request = split_params(
        {
            "query": "SELECT 1",
            "database": "fp",
            "session_id": "s1",
            "session_timeout": "5",
            "wait_end_of_query": "1",
            "enable_http_compression": "1",
            "param_card": "c-1",
            "max_threads": "2",
            "date_time_input_format": "best_effort",
        }
    )
    assert (request.query, request.database, request.session_id, request.session_timeout_s) == (
        "SELECT 1",
        "fp",
        "s1",
        5.0,
    )
    assert request.compress_response
    assert request.bind == {"card": "c-1"}
    assert request.settings == {"max_threads": "2", "date_time_input_format": "best_effort"}


@pytest.mark.parametrize("params", [{"compress": "1"}, {"decompress": "1"}, {"role": "admin"}])
def test_unsupported_parameters_are_refused_as_not_implemented(params: dict[str, str]) -> None:
    with pytest.raises(ClickHouseHTTPError) as refused:
        split_params(params)
    assert (refused.value.code, http_status(refused.value)) == (48, 501)


def test_insert_data_starts_after_the_first_newline() -> None:
    # Native data may begin with byte 0x0a (10 columns): only the first newline is the separator.
    insert = split_insert(b"INSERT INTO db.t (`a`, b) FORMAT Native\n\n\x01rest")
    assert insert is not None
    assert (insert.table, insert.columns, insert.format, insert.data) == (
        "db.t",
        "(`a`, b)",
        "Native",
        b"\n\x01rest",
    )
    assert insert.from_file("/tmp/x'y") == "INSERT INTO db.t (`a`, b) FROM INFILE '/tmp/x\\'y' FORMAT Native"


def test_insert_settings_move_after_the_file() -> None:
    insert = split_insert(b"insert into t settings async_insert=0 format CSV 1,2\n")
    assert insert is not None
    assert insert.data == b"1,2\n"
    assert insert.from_file("/f") == "INSERT INTO t FROM INFILE '/f' SETTINGS async_insert=0 FORMAT CSV"


def test_other_statements_are_not_inserts_with_data() -> None:
    assert split_insert(b"INSERT INTO t VALUES ('FORMAT x')") is None
    assert split_insert(b"INSERT INTO t SELECT * FROM s") is None
    assert split_insert(b"SELECT 1 FORMAT Native") is None


def test_query_parameter_and_body_join_with_a_newline() -> None:
    assert request_sql("INSERT INTO t FORMAT Native", b"\x0a\x01") == b"INSERT INTO t FORMAT Native\n\x0a\x01"
    assert request_sql("", b"SELECT 1") == b"SELECT 1"
    assert request_sql("SELECT 1", b"") == b"SELECT 1"


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1", True),
        ("  -- why\n/* c */ (SELECT 1)", True),
        ("with x as (select 1) select * from x", True),
        ("SHOW TABLES", True),
        ("CREATE TABLE t (a UInt8) ENGINE = Memory", False),
        ("INSERT INTO t VALUES (1)", False),
        ("SET max_threads = 1", False),
    ],
)
def test_result_producing_statements(sql: str, expected: bool) -> None:
    assert produces_result(sql) is expected


def test_engine_errors_keep_their_text_and_map_to_the_servers_status() -> None:
    error = engine_error(
        "chdb: Code: 60. DB::Exception: Unknown table expression identifier 'x'. (UNKNOWN_TABLE)"
    )
    assert (error.code, error.name, http_status(error)) == (60, "UNKNOWN_TABLE", 404)
    assert error.body("26.9.2.1") == (
        b"Code: 60. DB::Exception: Unknown table expression identifier 'x'. (UNKNOWN_TABLE)"
        b" (version 26.9.2.1)\n"
    )
    assert http_status(engine_error("Code: 62. DB::Exception: Syntax error. (SYNTAX_ERROR)")) == 400
    assert engine_error("segfault-free surprise").code == 1001


def test_credentials_from_each_place_and_refusal() -> None:
    basic = "Basic " + base64.b64encode(b"alice:pw").decode()
    assert credentials({"Authorization": basic}, {}) == ("alice", "pw")
    assert credentials({"X-ClickHouse-User": "bob", "X-ClickHouse-Key": "k"}, {}) == ("bob", "k")
    assert credentials({}, {"user": "carol", "password": "p"}) == ("carol", "p")
    assert credentials({}, {}) == ("default", "")
    check_credentials(("default", ""), ("default", ""))
    with pytest.raises(ClickHouseHTTPError) as refused:
        check_credentials(("default", "nope"), ("default", ""))
    assert (refused.value.code, http_status(refused.value)) == (516, 403)
    assert "default: Authentication failed" in refused.value.text


def test_bodies_of_several_frames_or_members_decode_whole() -> None:
    # clickhouse-connect compresses each insert block as its own lz4 frame.
    assert decode_body(lz4.frame.compress(b"ab") + lz4.frame.compress(b"cd"), "lz4") == b"abcd"
    assert decode_body(gzip.compress(b"ab") + gzip.compress(b"cd"), "gzip") == b"abcd"
    with pytest.raises(ClickHouseHTTPError) as unknown:
        decode_body(b"x", "br")
    assert unknown.value.name == "UNKNOWN_COMPRESSION_METHOD"
    with pytest.raises(ClickHouseHTTPError) as broken:
        decode_body(b"not lz4", "lz4")
    assert broken.value.name == "CANNOT_DECOMPRESS"
