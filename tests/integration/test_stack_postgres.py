"""The local PostgreSQL is a real server ready for Debezium: logical WAL, generated credentials, data that
survives a restart, and nothing left running after it stops."""

from __future__ import annotations

import stat
from pathlib import Path

import psycopg
import pytest

from fraudlake.local.stack import manager
from fraudlake.local.stack.process import marked_processes
from fraudlake.local.stack.service import ServiceRecord, StackContext
from fraudlake.local.stack.services.postgres import CREDENTIALS_FILE, DATABASE

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def postgres(stack: StackContext) -> ServiceRecord:
    return manager.up(stack, ["postgres"])["postgres"]


def test_server_streams_logical_changes_through_pgoutput(postgres: ServiceRecord) -> None:
    with psycopg.connect(postgres.credentials["dsn"], autocommit=True) as conn:
        assert conn.execute("SHOW wal_level").fetchone() == ("logical",)
        assert conn.execute("SELECT current_database()").fetchone() == (DATABASE,)
        conn.execute("CREATE TABLE probe (id int PRIMARY KEY, note text)")
        slot = conn.execute(
            "SELECT slot_name FROM pg_create_logical_replication_slot('probe_slot', 'test_decoding')"
        ).fetchone()
        try:
            conn.execute("INSERT INTO probe VALUES (1, 'changed')")
            changes = [
                row[0]
                for row in conn.execute("SELECT data FROM pg_logical_slot_get_changes(%s, NULL, NULL)", slot)
            ]
        finally:
            conn.execute("SELECT pg_drop_replication_slot('probe_slot')")
            conn.execute("DROP TABLE probe")
    assert any("INSERT" in change and "'changed'" in change for change in changes), changes


def test_credentials_are_generated_and_required(postgres: ServiceRecord, stack: StackContext) -> None:
    creds_file = stack.data_dir("postgres") / CREDENTIALS_FILE
    assert stat.S_IMODE(creds_file.stat().st_mode) == 0o600
    assert len(postgres.credentials["password"]) >= 24
    wrong = postgres.credentials["dsn"].replace(postgres.credentials["password"], "not-the-password")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=5)


def test_data_survives_a_restart_and_stop_leaves_nothing_running(tmp_path: Path) -> None:
    own = StackContext(tmp_path / "pg-stack")
    try:
        first = manager.up(own, ["postgres"])["postgres"]
        with psycopg.connect(first.credentials["dsn"], autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (id int PRIMARY KEY)")
            conn.execute("INSERT INTO kept VALUES (42)")
        manager.down(own, ["postgres"])
        assert marked_processes(own.stack_dir) == []
        second = manager.up(own, ["postgres"])["postgres"]
        assert second.credentials["password"] == first.credentials["password"]
        with psycopg.connect(second.credentials["dsn"]) as conn:
            assert conn.execute("SELECT id FROM kept").fetchall() == [(42,)]
    finally:
        manager.down(own)
    assert marked_processes(own.stack_dir) == []
