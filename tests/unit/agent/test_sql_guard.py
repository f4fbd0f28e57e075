"""The SQL guard's parser layer: hostile inputs are refused, ordinary analyst queries pass."""

from __future__ import annotations

import pytest

from fraudlake.agent.sql_guard import DENIED_FUNCTION_PREFIXES, SqlGuard, SqlRejectedError, pipeline_tables

pytestmark = pytest.mark.unit

DB = "fp_demo"

HOSTILE: dict[str, str] = {
    # DDL
    "drop table": "DROP TABLE transactions",
    "create table": "CREATE TABLE fp_demo.x (a UInt8) ENGINE = Memory",
    "alter delete": "ALTER TABLE transactions DELETE WHERE 1",
    "truncate": "TRUNCATE TABLE transactions",
    "rename": "RENAME TABLE transactions TO t2",
    "detach": "DETACH TABLE transactions",
    "attach": "ATTACH TABLE transactions",
    "exchange": "EXCHANGE TABLES transactions AND alerts",
    "backup": "BACKUP DATABASE fp_demo TO Disk('backups', 'x.zip')",
    # DML
    "insert values": "INSERT INTO alerts (alert_id) VALUES ('x')",
    "insert select": "INSERT INTO alerts SELECT * FROM alerts",
    "delete": "DELETE FROM alerts WHERE 1",
    "update": "UPDATE alerts SET status = 'dismissed' WHERE 1",
    # multiple statements
    "select then drop": "SELECT 1; DROP TABLE transactions",
    "two selects": "SELECT 1; SELECT 2",
    "double semicolon insert": "SELECT 1 FROM alerts;; INSERT INTO alerts (alert_id) VALUES ('x')",
    "parenthesised then drop": "(SELECT 1); DROP TABLE transactions",
    # other databases and system tables
    "system.tables": "SELECT * FROM system.tables",
    "system.users": "SELECT name, auth_type FROM system.users",
    "default database": "SELECT * FROM default.transactions",
    "information_schema": "SELECT * FROM INFORMATION_SCHEMA.TABLES",
    "backticked system": "SELECT * FROM `system`.`processes`",
    "system in subquery": "SELECT * FROM transactions WHERE card_id IN (SELECT name FROM system.tables)",
    "system in union": "SELECT 1 UNION ALL SELECT name FROM system.databases",
    "system in cte": "WITH s AS (SELECT * FROM system.settings) SELECT * FROM s",
    "join other database": "SELECT * FROM transactions AS t JOIN other_db.secrets AS s USING (card_id)",
    "IN table": "SELECT * FROM transactions WHERE card_id IN system.one",
    "other pipeline": "SELECT * FROM fp_other.transactions",
    "kafka queue table": "SELECT * FROM transactions_queue",
    "three-part name": "SELECT * FROM cat.fp_demo.transactions",
    # settings changes
    "set readonly": "SET readonly = 0",
    "settings clause": "SELECT * FROM transactions SETTINGS readonly = 0",
    "settings in subquery": "SELECT * FROM (SELECT * FROM transactions SETTINGS max_execution_time = 0)",
    "getSetting": "SELECT getSetting('readonly')",
    # comment tricks
    "line comment": "SELECT 1 -- ; DROP TABLE transactions",
    "block comment": "SELECT 1 /* */ FROM transactions",
    "hash comment": "SELECT 1 # comment",
    "shebang comment": "#!/bin/sh\nSELECT 1",
    "mysql-style comment": "SELECT * FROM transactions /*!; DROP TABLE transactions */",
    "nested comment": "SELECT 1 /* a /* b */ ; DROP TABLE transactions */",
    "comment inside name": "SELECT * FROM system/**/.tables",
    # unicode tricks
    "zero-width space": "SELECT * FROM transactions\u200b; DROP TABLE transactions",
    "cyrillic homoglyph": "SELECT * FROM \u0455ystem.tables",
    "fullwidth semicolon": "SELECT 1\uff1bDROP TABLE transactions",
    "right-to-left override": "SELECT * FROM transactions\u202e",
    "NUL byte": "SELECT * FROM transactions\x00; DROP TABLE transactions",
    "fullwidth keyword": "\uff33\uff25\uff2c\uff25\uff23\uff34 1",
    "non-ascii identifier": "SELECT * FROM transacti\u00f6ns",
    # table functions
    "s3()": "SELECT * FROM s3('http://127.0.0.1:9000/b/*.parquet', 'Parquet')",
    "url()": "SELECT * FROM url('http://example.com/x.csv', CSV)",
    "file()": "SELECT * FROM file('/etc/passwd', 'LineAsString')",
    "remote()": "SELECT * FROM remote('127.0.0.1', system.one)",
    "cluster()": "SELECT * FROM cluster('default', system.tables)",
    "numbers()": "SELECT * FROM numbers(1000000000)",
    "merge()": "SELECT * FROM merge('system', '.*')",
    "url() in subquery": "SELECT * FROM transactions WHERE card_id IN (SELECT * FROM url('http://x', CSV))",
    "executable()": "SELECT * FROM executable('cat /etc/passwd', 'TSV', 'x String')",
    "mysql()": "SELECT * FROM mysql('host:3306', 'db', 't', 'u', 'p')",
    "view()": "SELECT * FROM view(SELECT * FROM system.users)",
    # functions that read other tables or burn time
    "joinGet": "SELECT joinGet('system.one', 'dummy', 1)",
    "dictGet": "SELECT dictGet('other.dict', 'x', toUInt64(1))",
    "sleep": "SELECT sleep(3) FROM transactions",
    "hasColumnInTable": "SELECT hasColumnInTable('system', 'users', 'name')",
    # output redirection
    "into outfile": "SELECT * FROM transactions INTO OUTFILE '/tmp/dump.csv'",
    "format clause": "SELECT * FROM transactions FORMAT CSV",
    # administrative statements
    "kill": "KILL QUERY WHERE 1",
    "optimize": "OPTIMIZE TABLE transactions FINAL",
    "system command": "SYSTEM DROP MARK CACHE",
    "system shutdown": "SYSTEM SHUTDOWN",
    "grant": "GRANT ALL ON *.* TO default",
    "show": "SHOW TABLES FROM system",
    "explain": "EXPLAIN SELECT 1",
    "describe": "DESCRIBE TABLE system.users",
    "use": "USE system",
    "check table": "CHECK TABLE transactions",
    # malformed / oversized / parameters
    "empty": "   ",
    "query parameter": "SELECT {card:String}",
    "oversized": "SELECT " + ", ".join(["1"] * 5000),
    "garbage": "SELEC * FROM transactions",
}


@pytest.fixture(scope="module")
def guard() -> SqlGuard:
    return SqlGuard(DB, max_rows=100)


@pytest.mark.parametrize("sql", list(HOSTILE.values()), ids=list(HOSTILE))
def test_hostile_input_is_refused(guard: SqlGuard, sql: str) -> None:
    with pytest.raises(SqlRejectedError):
        guard.check(sql)


def test_there_are_plenty_of_hostile_inputs() -> None:
    assert len(HOSTILE) >= 30


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (
            "SELECT merchant_id, countIf(is_fraud) AS frauds FROM transactions FINAL "
            "GROUP BY merchant_id ORDER BY frauds DESC",
            "SELECT merchant_id, countIf(is_fraud) AS frauds FROM fp_demo.transactions FINAL "
            "GROUP BY merchant_id ORDER BY frauds DESC LIMIT 100",
        ),
        ("select * from alerts limit 5", "SELECT * FROM fp_demo.alerts LIMIT 5"),
        ("SELECT * FROM fp_demo.alerts LIMIT 5000", "SELECT * FROM fp_demo.alerts LIMIT 100"),
        ("SELECT * FROM alerts LIMIT 10 OFFSET 20", "SELECT * FROM fp_demo.alerts LIMIT 10 OFFSET 20"),
        (
            "WITH recent AS (SELECT * FROM alerts WHERE status = 'open') SELECT count() FROM recent",
            "WITH recent AS (SELECT * FROM fp_demo.alerts WHERE status = 'open') "
            "SELECT count() FROM recent LIMIT 100",
        ),
        (
            "SELECT 1 AS x UNION ALL SELECT 2",
            "SELECT * FROM (SELECT 1 AS x UNION ALL SELECT 2) LIMIT 100",
        ),
        (
            "SELECT card_id FROM transactions ORDER BY amount DESC LIMIT 2 BY card_id",
            "SELECT * FROM (SELECT card_id FROM fp_demo.transactions ORDER BY amount DESC "
            "LIMIT 2 BY card_id) LIMIT 100",
        ),
        (
            "SELECT * FROM transactions WHERE card_id IN (SELECT card_id FROM alerts) "
            "AND merchant_city = 'Zürich'",
            "SELECT * FROM fp_demo.transactions WHERE card_id IN (SELECT card_id FROM fp_demo.alerts) "
            "AND merchant_city = 'Zürich' LIMIT 100",
        ),
        (
            "SELECT 'a -- b # c /* d */' FROM users;",
            "SELECT 'a -- b # c /* d */' FROM fp_demo.users LIMIT 100",
        ),
        ("SELECT * FROM rule_spend_burst_10m", "SELECT * FROM fp_demo.rule_spend_burst_10m LIMIT 100"),
    ],
)
def test_ordinary_queries_pass_qualified_and_limited(guard: SqlGuard, sql: str, expected: str) -> None:
    assert guard.check(sql).sql == expected


def test_guarded_query_names_the_tables_it_reads(guard: SqlGuard) -> None:
    checked = guard.check("SELECT a.card_id FROM alerts AS a JOIN cards AS c ON a.card_id = c.card_id")
    assert checked.tables == ("alerts", "cards")
    assert checked.limit == 100


def test_allowlist_is_the_ddl_objects_without_the_kafka_queue() -> None:
    tables = pipeline_tables(DB)
    assert {"transactions", "cards", "users", "alerts", "predictions", "card_windows_10m"} <= tables
    assert "transactions_queue" not in tables


def test_refusals_say_why(guard: SqlGuard) -> None:
    with pytest.raises(SqlRejectedError, match="only the pipeline database 'fp_demo'"):
        guard.check("SELECT * FROM system.tables")
    with pytest.raises(SqlRejectedError, match="table functions"):
        guard.check("SELECT * FROM s3('http://x/y', 'Parquet')")
    with pytest.raises(SqlRejectedError, match="only SELECT"):
        guard.check("DROP TABLE transactions")
    with pytest.raises(SqlRejectedError, match="comments"):
        guard.check("SELECT 1 -- hi")


def test_denied_function_prefixes_are_lowercase() -> None:
    assert all(prefix == prefix.lower() for prefix in DENIED_FUNCTION_PREFIXES)
