"""The local ClickHouse server (`fraudlake clickhouse serve`) through clickhouse-connect's HTTP client.

The server runs as its own process on a data directory of its own (chDB allows one engine per
process, so it cannot share the session's `clickhouse` fixture), and every check goes through
`fraudlake.clickhouse.client.connect("http://…")`, the production code path.
"""

from __future__ import annotations

import base64
import datetime as dt
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import clickhouse_connect
import pyarrow as pa
import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from fraudlake.clickhouse import migrations
from fraudlake.clickhouse.client import connect
from fraudlake.local.chdb_http.process import LocalClickHouseServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

PASSWORD = "s3cret-local"
COLUMNS = "id UInt32, merchant LowCardinality(String), mcc Nullable(Int32), event_ts DateTime64(3, 'UTC'), amount Decimal(18, 2), tags Array(String)"  # noqa: E501


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalClickHouseServer]:
    folder = tmp_path_factory.mktemp("clickhouse-server")
    with LocalClickHouseServer(folder / "data", folder / "server.log", password=PASSWORD) as running:
        yield running


@pytest.fixture(scope="module")
def ch(server: LocalClickHouseServer) -> Client:
    return connect(server.dsn)


@pytest.fixture
def database(ch: Client) -> Iterator[str]:
    name = f"srv_{uuid.uuid4().hex[:8]}"
    ch.command(f"CREATE DATABASE {name}")
    yield name
    ch.command(f"DROP DATABASE IF EXISTS {name}")


def rows(count: int) -> list[list[object]]:
    start = dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.UTC)
    return [
        [
            i,
            f"merchant-{i % 7}",
            None if i % 3 == 0 else 5000 + i % 11,
            start + dt.timedelta(milliseconds=1500 * i),
            Decimal(i * 37 % 10_000) / 100,
            [f"t{i % 5}"] * (i % 3),
        ]
        for i in range(count)
    ]


def http(
    server: LocalClickHouseServer,
    path: str,
    body: bytes | None = None,
    password: str = PASSWORD,
    headers: dict[str, str] | None = None,
):
    """A raw request (status, headers, body) for what clickhouse-connect does not expose."""
    request = urllib.request.Request(f"{server.url}{path}", data=body, headers=headers or {})  # noqa: S310
    request.add_header("Authorization", "Basic " + base64.b64encode(f"default:{password}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_ping_answers_ok(server: LocalClickHouseServer) -> None:
    for path in ("/ping", "/"):
        with urllib.request.urlopen(f"{server.url}{path}", timeout=5) as response:  # noqa: S310
            assert (response.status, response.read()) == (200, b"Ok.\n")


def test_commands_return_values_summaries_and_empty_results(ch: Client, database: str) -> None:
    assert ch.command("SELECT 1") == 1
    assert ch.command("SELECT version()") == ch.server_version
    assert ch.command("SELECT 'a', 2") == ["a", "2"]
    created = ch.command(f"CREATE TABLE {database}.t ({COLUMNS}) ENGINE = MergeTree ORDER BY id")
    assert not isinstance(created, str | int | list)  # a QuerySummary: DDL produces no result set
    assert ch.command(f"SELECT id FROM {database}.t") == ""  # a result set with no rows


@pytest.mark.parametrize("compress", [False, "lz4", "zstd", "gzip"])
def test_typed_rows_round_trip(server: LocalClickHouseServer, database: str, compress: bool | str) -> None:
    client = clickhouse_connect.get_client(
        host="127.0.0.1", port=server.port, username="default", password=PASSWORD, compress=compress
    )
    client.command(f"CREATE TABLE {database}.t ({COLUMNS}) ENGINE = MergeTree ORDER BY id")
    sent = rows(3000)
    summary = client.insert(
        f"{database}.t", sent, column_names=["id", "merchant", "mcc", "event_ts", "amount", "tags"]
    )
    assert summary.written_rows == 3000
    result = client.query(f"SELECT * FROM {database}.t ORDER BY id")
    assert result.column_names == ("id", "merchant", "mcc", "event_ts", "amount", "tags")
    assert [type_.name for type_ in result.column_types] == [
        "UInt32", "LowCardinality(String)", "Nullable(Int32)", "DateTime64(3, 'UTC')", "Decimal(18, 2)",
        "Array(String)",
    ]  # fmt: skip
    received = [list(row) for row in result.result_rows]
    # clickhouse-connect returns UTC DateTime64 values naive (its default for a UTC column).
    assert received == [[*row[:3], row[3].replace(tzinfo=None), *row[4:]] for row in sent]
    assert client.command(
        f"SELECT countIf(mcc IS NULL), uniqExact(merchant), sum(length(tags)) FROM {database}.t"
    ) == ["1000", "7", str(sum(i % 3 for i in range(3000)))]


def test_arrow_and_text_inserts(ch: Client, database: str) -> None:
    ch.command(f"CREATE TABLE {database}.a (id UInt32, name String) ENGINE = MergeTree ORDER BY id")
    table = pa.table({"id": pa.array(range(500), pa.uint32()), "name": [f"n{i}" for i in range(500)]})
    ch.insert_arrow(f"{database}.a", table)
    # A command with data: the statement in the `query` parameter, the rows in the body.
    ch.command(f"INSERT INTO {database}.a FORMAT CSV", data='1000,x\n1001,"y, z"\n')
    assert ch.command(f"SELECT count(), max(id), anyIf(name, id = 1001) FROM {database}.a") == [
        "502", "1001", "y, z",
    ]  # fmt: skip
    assert ch.query(f"SELECT name FROM {database}.a WHERE id = 42").result_rows == [("n42",)]


def test_bind_parameters_server_and_client_side(ch: Client) -> None:
    assert ch.query("SELECT {a:UInt32} + 1", parameters={"a": 41}).result_rows == [(42,)]
    assert ch.query("SELECT %(s)s || '!'", parameters={"s": "it's"}).result_rows == [("it's!",)]


def test_session_settings_persist_and_url_settings_do_not_leak(server: LocalClickHouseServer) -> None:
    session, other = connect(server.dsn), connect(server.dsn)
    default = other.command("SELECT getSetting('max_threads')")
    session.command("SET max_threads = 3")
    assert session.command("SELECT getSetting('max_threads')") == 3
    # A setting passed with one query applies to that query only, in the session and outside it.
    per_query = session.query("SELECT getSetting('max_threads')", settings={"max_threads": 5})
    assert per_query.result_rows == [(5,)]
    assert session.command("SELECT getSetting('max_threads')") == 3
    assert other.command("SELECT getSetting('max_threads')") == default


def test_a_failed_querys_rows_do_not_reach_the_sessions_next_result(server: LocalClickHouseServer) -> None:
    """chDB hands the rows a failed query had written (here the first block, before max_result_rows
    threw) to the connection's next query; the session's next result must be its own."""
    session = connect(server.dsn)
    # Session settings, not URL ones: restoring those would run a statement in between.
    session.command("SET max_result_rows = 100000, result_overflow_mode = 'throw'")
    with pytest.raises(DatabaseError, match="TOO_MANY_ROWS_OR_BYTES"):
        session.query("SELECT number FROM numbers(200000)")
    assert session.query("SELECT 42 AS answer").result_rows == [(42,)]


def test_syntax_error_raises_the_engines_message(server: LocalClickHouseServer, ch: Client) -> None:
    with pytest.raises(DatabaseError) as raised:
        ch.command("SELEC 1")
    message = str(raised.value)
    assert "server response: Code: 62. DB::Exception: Syntax error: failed at position" in message
    assert f"(SYNTAX_ERROR) (version {ch.server_version})" in message
    # The real server's status codes: 400 for a syntax error, 404 for an unknown table.
    status, headers, _ = http(server, "/", b"SELEC 1")
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (400, "62")
    status, headers, body = http(server, "/", b"SELECT * FROM no_such_table")
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (404, "60")
    assert b"(UNKNOWN_TABLE)" in body


def test_wrong_password_is_refused(server: LocalClickHouseServer) -> None:
    with pytest.raises(DatabaseError, match=r"code: 516.*AUTHENTICATION_FAILED"):
        connect(f"http://default:wrong@127.0.0.1:{server.port}")
    status, headers, body = http(server, "/?query=SELECT%201", password="wrong")
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (403, "516")
    assert body.startswith(b"Code: 516. DB::Exception: default: Authentication failed")


def test_unsupported_protocol_features_are_refused(server: LocalClickHouseServer) -> None:
    status, headers, body = http(server, "/?compress=1", b"SELECT 1")
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (501, "48")
    assert b"NOT_IMPLEMENTED" in body
    # External data: a multipart/form-data part with a file name.
    form = {"Content-Type": "multipart/form-data; boundary=b"}
    external = (
        b'--b\r\nContent-Disposition: form-data; name="t"; filename="t.tsv"\r\n\r\n1\r\n'
        b'--b\r\nContent-Disposition: form-data; name="query"\r\n\r\nSELECT * FROM t\r\n--b--\r\n'
    )
    status, headers, body = http(server, "/", external, headers=form)
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (501, "48")
    assert b"external data" in body


def test_bind_parameters_too_long_for_the_url_arrive_as_form_fields(ch: Client) -> None:
    """Past 4 KiB of parameters clickhouse-connect sends the query and its parameters as
    multipart/form-data fields (the lake ledger's lookup of a sweep's object keys does)."""
    keys = [f"pipelines/fraud/p/raw/topic/{index:010d}-{index:020d}.parquet" for index in range(200)]
    answer = ch.query(
        "SELECT length({keys:Array(String)}), {keys:Array(String)}[200]", parameters={"keys": keys}
    )
    assert answer.result_rows == [(200, keys[-1])]


def test_kafka_engine_tables_are_refused_before_they_reach_chdb(ch: Client, database: str) -> None:
    # chdb 4.4 cannot run the consumer and leaves the data directory unopenable: never try.
    statements = migrations.render_statements(
        migrations.SchemaParams(
            database, streaming_ingest=True, kafka_bootstrap="127.0.0.1:1", kafka_topic="t"
        )
    )
    # The refusal is permanent for the operator (StreamingIngestUnsupported), not a retry.
    with pytest.raises(migrations.StreamingIngestUnsupportedError, match=r"code: 48.*Kafka-engine table"):
        migrations.apply_schema(ch, statements)
    assert ch.command("SELECT 1") == 1


def test_get_requests_are_read_only(server: LocalClickHouseServer, database: str) -> None:
    status, headers, body = http(server, "/?query=SELECT%2040%2B2")
    assert (status, body, headers["X-ClickHouse-Format"]) == (200, b"42\n", "TabSeparated")
    create = urllib.parse.quote(f"CREATE TABLE {database}.g (a UInt8) ENGINE = Memory")
    status, headers, _ = http(server, f"/?query={create}")
    assert headers["X-ClickHouse-Exception-Code"] == "164"  # READONLY


def test_operator_ddl_applies_twice(ch: Client) -> None:
    name = f"srv_ddl_{uuid.uuid4().hex[:8]}"
    statements = migrations.render_statements(migrations.SchemaParams(name, retention_days=30))
    expected = migrations.expected_objects(statements)
    try:
        assert migrations.missing_tables(ch, name, expected) == expected
        migrations.apply_schema(ch, statements)
        migrations.apply_schema(ch, statements)
        assert migrations.missing_tables(ch, name, expected) == []
        # Retention changes go through ALTER with a per-command setting (a URL parameter).
        assert migrations.sync_retention(ch, name, 60) == ["transactions"]
        assert migrations.sync_retention(ch, name, 60) == []
    finally:
        migrations.drop_database(ch, name)


def test_data_survives_a_restart(tmp_path: Path) -> None:
    """SIGTERM closes the engine cleanly: a new server process opens the same directory."""
    data = tmp_path / "data"
    with LocalClickHouseServer(data, tmp_path / "first.log") as first:
        client = connect(first.dsn)
        client.command("CREATE TABLE kept (a UInt8) ENGINE = MergeTree ORDER BY a")
        client.command("INSERT INTO kept VALUES (1), (2)")
    assert "engine closed" in (tmp_path / "first.log").read_text()
    with LocalClickHouseServer(data, tmp_path / "second.log") as second:
        assert connect(second.dsn).command("SELECT sum(a) FROM kept") == 3
