"""Bank changes end to end: PostgreSQL → Debezium (the operator's connector config) → Kafka → ClickHouse
(clickhouse/140: current state by WAL position, and history). The snapshot and streamed changes (a block,
a reissue, a limit change, a delete) land; a killed and restarted Connect worker resumes from its offsets
without a second snapshot, and replaying the whole topic into ClickHouse adds no row to the current state.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from cdc_kit import (
    CARDS,
    Changes,
    bank,  # noqa: F401 - a fixture
    connector_config,
    create_topics,
    drop_slot,
    pipeline_with_source,
    postgres,  # noqa: F401 - a fixture
    read_topic,
    wait_for,
)
from clickhouse_connect.driver.client import Client

from fraudlake.clickhouse import migrations
from fraudlake.clickhouse.cdc_ingest import insert_changes
from fraudlake.clickhouse.client import connect
from fraudlake.local.stack import manager
from fraudlake.local.stack.service import ServiceRecord, StackContext
from fraudlake.local.stack.services.connect import connector_status, delete_connector, put_connector
from fraudlake.operator.source_health import read_state
from fraudlake.operator.sources import (
    replication_name,
    source_topic_manifests,
    table_topic,
)
from fraudlake.producer.bank_db import BankDatabase
from fraudlake.stream.loader import ClickHouseLoader, change_targets, clickhouse_insert, load_state_recorder

pytestmark = pytest.mark.integration


@pytest.fixture
def ch(clickhouse: ServiceRecord) -> Iterator[tuple[Client, str]]:
    client = connect(clickhouse.endpoints["dsn"])
    database = f"cdc_{uuid.uuid4().hex[:8]}"
    migrations.apply_schema(
        client, migrations.render_statements(migrations.SchemaParams(database, change_data_capture=True))
    )
    yield client, database
    migrations.drop_database(client, database)


def ops(values: Changes, op: str) -> int:
    return sum(1 for value in values if value is not None and value["op"] == op)


def has_limit(values: Changes, card_id: str, limit: float) -> bool:
    return any(
        v is not None
        and v["after"]
        and v["after"]["card_id"] == card_id
        and v["after"]["credit_limit"] == limit
        for v in values
    )


def task_running(rest: str, name: str) -> bool:
    try:
        return [task["state"] for task in connector_status(rest, name)["tasks"]] == ["RUNNING"]
    except Exception:  # the restarted worker answers 404 until it has read its configs
        return False


def current_cards(client: Client, database: str) -> dict[str, tuple[str, float]]:
    rows = client.query(f"SELECT card_id, status, credit_limit FROM {database}.bank_cards FINAL").result_rows
    return {card_id: (status, limit) for card_id, status, limit in rows}


def test_changes_reach_clickhouse_and_survive_a_connect_restart(
    stack: StackContext,
    kafka: ServiceRecord,
    kafka_connect: ServiceRecord,
    bank: dict[str, Any],  # noqa: F811 - the fixture imported above
    ch: tuple[Client, str],
) -> None:
    client, database = ch
    rest, bootstrap = kafka_connect.endpoints["rest"], kafka.endpoints["bootstrap"]
    pipeline = pipeline_with_source()
    (source,) = pipeline.spec.sources
    create_topics(bootstrap, source_topic_manifests(pipeline))
    name, config = connector_config(pipeline, bank)
    topic = table_topic(pipeline, source, "public.cards")
    put_connector(rest, name, config)
    try:
        snapshot = read_topic(bootstrap, topic, lambda values: len(values) == len(CARDS))
        assert insert_changes(client, database, "cards", snapshot) == len(CARDS)
        assert current_cards(client, database) == {
            "c0": ("active", 1000.0),
            "c1": ("active", 1001.0),
            "c2": ("active", 1002.0),
        }

        with BankDatabase(bank["dsn"]) as db:
            db.block_card("c1")
            db.reissue_card("c0", "c0-new")  # insert of c0-new + update of c0
            db.change_limit("c0-new", 2500.0)
            db.delete_card("c2")  # delete + tombstone
        # Five changes and the delete's tombstone.
        changes = read_topic(bootstrap, topic, lambda values: len(values) == len(CARDS) + 6)
        assert changes[-1] is None
        insert_changes(client, database, "cards", changes[len(CARDS) :])
        expected = {
            "c0": ("replaced", 1000.0),
            "c0-new": ("active", 2500.0),
            "c1": ("blocked", 1001.0),
        }
        assert current_cards(client, database) == expected
        reissued = client.query(
            f"SELECT replaces_card_id FROM {database}.bank_cards FINAL WHERE card_id = 'c0-new'"
        ).result_rows
        assert reissued == [("c0",)]
        history = client.query(
            f"SELECT op, count() FROM {database}.bank_cards_history FINAL GROUP BY op ORDER BY op"
        ).result_rows
        assert history == [("c", 1), ("d", 1), ("r", 3), ("u", 3)]

        # Kafka Connect dies and comes back: the connector resumes from its stored offsets.
        os.kill(manager.load_endpoints(stack.stack_dir)["connect"].pids[0], signal.SIGKILL)
        rest = manager.up(stack, ["connect"])["connect"].endpoints["rest"]
        wait_for("the connector's task to run again", lambda: task_running(rest, name))
        with BankDatabase(bank["dsn"]) as db:
            db.change_limit("c1", 10.0)
        # The topic may repeat changes whose offsets the killed worker had not flushed (at least once).
        replay = read_topic(bootstrap, topic, lambda values: has_limit(values, "c1", 10.0))
        # No second snapshot: the worker resumed streaming from the slot.
        assert ops(replay, "r") == len(CARDS)
        # Everything again, newest first, as a loader without offsets might: the WAL position, not the
        # order of arrival, decides which row image is current.
        insert_changes(client, database, "cards", list(reversed(replay)))
        assert current_cards(client, database) == expected | {"c1": ("blocked", 10.0)}
        rows = client.query(f"SELECT count() FROM {database}.bank_cards FINAL").result_rows
        assert rows == [(3,)]  # c0, c0-new, c1: the replay added none, the delete hides c2
    finally:
        delete_connector(rest, name)
        drop_slot(bank["dsn"], replication_name(pipeline, source))


def test_the_scorer_s_cdc_loader_follows_changes_and_stops_at_a_renamed_column(
    kafka: ServiceRecord,
    kafka_connect: ServiceRecord,
    clickhouse: ServiceRecord,
    bank: dict[str, Any],  # noqa: F811 - the fixture imported above
    ch: tuple[Client, str],
) -> None:
    """The long-running loader the scorer runs (`--cdc-topics` with `--clickhouse-dsn`): snapshot and
    streamed changes land without a test calling `insert_changes`; a column renamed in the bank's database
    stops it at that change, loading nothing of it and nothing after, with the reason."""
    client, database = ch
    rest, bootstrap = kafka_connect.endpoints["rest"], kafka.endpoints["bootstrap"]
    pipeline = pipeline_with_source()
    (source,) = pipeline.spec.sources
    create_topics(bootstrap, source_topic_manifests(pipeline))
    name, config = connector_config(pipeline, bank)
    topics = [table_topic(pipeline, source, table) for table in source.tables]
    insert = clickhouse_insert(clickhouse.endpoints["dsn"], database)
    loader = ClickHouseLoader(
        bootstrap,
        f"itest-cdc-{uuid.uuid4().hex[:8]}",
        change_targets(topics),
        insert,
        name="cdc-loader",
        on_state=load_state_recorder(insert, "cdc-loader"),
    )
    put_connector(rest, name, config)
    loader.start()
    try:
        wait_for("the snapshot in ClickHouse", lambda: len(current_cards(client, database)) == len(CARDS))
        users = client.query(f"SELECT count() FROM {database}.bank_users FINAL").result_rows
        assert users == [(3,)]
        with BankDatabase(bank["dsn"]) as db:
            db.block_card("c1")
        wait_for("the block in ClickHouse", lambda: current_cards(client, database)["c1"][0] == "blocked")

        with BankDatabase(bank["dsn"]) as db:
            db.conn.execute("ALTER TABLE cards RENAME COLUMN status TO card_status")
            db.change_limit("c0", 7000.0)
            db.change_limit("c2", 8000.0)
        wait_for("the loader to stop at the renamed column", loader.failing)
        assert "lacks column(s) status" in (loader.last_error or "")
        # What the operator reads into SourcesLoaded False / SourceSchemaBroken.
        healthy, error = read_state(client, database) or (True, "")
        assert not healthy
        assert "cards change at lsn" in error
        assert "renamed or dropped in the source database" in error
        time.sleep(3)  # a few retries later: still stopped, nothing of the two changes loaded
        assert loader.failing()
        assert current_cards(client, database) == {
            "c0": ("active", 1000.0),
            "c1": ("blocked", 1001.0),
            "c2": ("active", 1002.0),
        }
    finally:
        loader.stop()
        delete_connector(rest, name)
        drop_slot(bank["dsn"], replication_name(pipeline, source))
