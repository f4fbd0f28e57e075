"""The agent against real services: chDB (the session's engine), the stack's ChromaDB, packaged MiniLM.

One generated world (real generator, fraud rings included) is loaded into a database of its own and
indexed once; the tests then check the readonly session, indexing idempotency, retrieval of a known
fraud ring's case, and that the offline agent's answer to "which merchants are linked to the most
fraud this week?" matches a computation done independently on the generated rows.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from agent_kit import AgentWorld, generate_world, load_world
from clickhouse_connect.driver.exceptions import DatabaseError
from pydantic import SecretStr

from fraudlake.agent.airflow_tasks import airflow_environment, data_window_end
from fraudlake.agent.document_queries import build_documents
from fraudlake.agent.documents import Window
from fraudlake.agent.embeddings import MiniLMEmbedder
from fraudlake.agent.indexing import (
    SyncReport,
    chroma_client,
    index_pipeline,
    open_collection,
    sync_documents,
)
from fraudlake.agent.notification import AlertNotFoundError
from fraudlake.agent.search import CaseSearch
from fraudlake.agent.service import AgentService
from fraudlake.agent.settings import AgentSettings, collection_for
from fraudlake.agent.sql_guard import ReadOnlySqlRunner, SqlLimits, SqlRejectedError
from fraudlake.clickhouse.client import connect
from fraudlake.local.stack.airflow_home import DAGS_FOLDER, prepare_dag_test
from fraudlake.local.stack.service import ServiceRecord

pytestmark = pytest.mark.integration

CASE_DAYS = 30


@pytest.fixture(scope="module")
def world() -> AgentWorld:
    # Seed 42: its sparse world still holds a ring with three victim cards (seed 11 at this rate: one).
    return generate_world(seed=42, fraud_rate=0.0015)


@pytest.fixture(scope="module")
def database(clickhouse: ServiceRecord, world: AgentWorld) -> Iterator[str]:
    name = f"agent_{uuid.uuid4().hex[:8]}"
    client = connect(clickhouse.endpoints["dsn"])
    load_world(client, name, world)
    yield name
    client.command(f"DROP DATABASE IF EXISTS {name} SYNC")


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


@pytest.fixture(scope="module")
def indexed(
    clickhouse: ServiceRecord, chroma: ServiceRecord, database: str, embedder: MiniLMEmbedder
) -> SyncReport:
    """The world indexed once, exactly as the DAG would for a run ending now."""
    dsn = clickhouse.endpoints["dsn"]
    end = data_window_end(connect(dsn), database, datetime.now(UTC))
    return index_pipeline(
        dsn, database, chroma.endpoints["url"], collection_for(database), embedder, end, CASE_DAYS
    )


@pytest.fixture(scope="module")
def collection(chroma: ServiceRecord, database: str, embedder: MiniLMEmbedder, indexed: SyncReport) -> Any:
    return open_collection(
        chroma_client(chroma.endpoints["url"]), collection_for(database), embedder, create=False
    )


@pytest.fixture(scope="module")
def service(clickhouse: ServiceRecord, chroma: ServiceRecord, database: str, embedder: MiniLMEmbedder,
            indexed: SyncReport) -> AgentService:  # fmt: skip
    settings = AgentSettings(
        clickhouse_dsn=SecretStr(clickhouse.endpoints["dsn"]),
        clickhouse_database=database,
        chroma_url=chroma.endpoints["url"],
        llm_provider="offline",
    )
    return AgentService(settings, embedder=embedder)


# --- the readonly session -------------------------------------------------------------------


@pytest.mark.parametrize(
    "mutation",
    [
        "INSERT INTO {db}.alerts (alert_id) VALUES ('injected')",
        "ALTER TABLE {db}.alerts DELETE WHERE 1",
        "DROP TABLE {db}.alerts",
        "CREATE TABLE {db}.x (a UInt8) ENGINE = Memory",
        "SELECT 1 SETTINGS readonly = 0",
    ],
)
def test_clickhouse_refuses_mutations_on_the_raw_path(
    clickhouse: ServiceRecord, database: str, mutation: str
) -> None:
    writer = connect(clickhouse.endpoints["dsn"])
    before = writer.query(f"SELECT count() FROM {database}.alerts").result_rows
    runner = ReadOnlySqlRunner(clickhouse.endpoints["dsn"], database)

    with pytest.raises(DatabaseError, match="READONLY"):
        runner.execute_unchecked(mutation.format(db=database))  # no parser in the way

    assert writer.query(f"SELECT count() FROM {database}.alerts").result_rows == before
    writer.command(
        f"CREATE TABLE IF NOT EXISTS {database}.scratch (a UInt8) ENGINE = Memory"
    )  # writer unaffected
    writer.command(f"DROP TABLE {database}.scratch")


def test_clickhouse_enforces_the_time_limit(clickhouse: ServiceRecord, database: str) -> None:
    runner = ReadOnlySqlRunner(clickhouse.endpoints["dsn"], database, SqlLimits(max_execution_seconds=1))
    with pytest.raises(DatabaseError, match=r"TIMEOUT_EXCEEDED|Timeout exceeded"):
        runner.execute_unchecked("SELECT count() FROM system.numbers")


@pytest.mark.parametrize(
    ("leak", "result"),
    [
        ("SELECT 'secret-token' IN ({other}.secrets)", 1),
        ("SELECT count() FROM transactions WHERE card_id NOT IN ({other}.secrets) AND 0", 0),
        # A table of the pipeline's database outside the allowlist, read by a CTE of its own name.
        ("WITH hidden_notes AS (SELECT * FROM hidden_notes) SELECT * FROM hidden_notes", "secret-token"),
    ],
)
def test_the_red_team_bypasses_leak_on_the_engine_and_the_guard_refuses_them(
    clickhouse: ServiceRecord, database: str, leak: str, result: Any
) -> None:
    """Negative control first: on the raw readonly session each statement really reads a table it
    must not (so the guard's refusal is what protects it), then the guard refuses it."""
    other = f"secrets_{uuid.uuid4().hex[:8]}"
    writer = connect(clickhouse.endpoints["dsn"])
    writer.command(f"CREATE DATABASE {other}")
    try:
        for table in (f"{other}.secrets", f"{database}.hidden_notes"):
            writer.command(f"CREATE TABLE {table} (token String) ENGINE = Memory")
            writer.command(f"INSERT INTO {table} VALUES ('secret-token')")
        runner = ReadOnlySqlRunner(clickhouse.endpoints["dsn"], database)
        sql = leak.format(other=other)
        assert runner.execute_unchecked(sql).rows[0][0] == result
        with pytest.raises(SqlRejectedError):
            runner.run(sql)
    finally:
        writer.command(f"DROP DATABASE IF EXISTS {other} SYNC")
        writer.command(f"DROP TABLE IF EXISTS {database}.hidden_notes SYNC")


def test_guarded_queries_run_limited_and_refusals_run_nothing(
    clickhouse: ServiceRecord, database: str
) -> None:
    runner = ReadOnlySqlRunner(clickhouse.endpoints["dsn"], database, SqlLimits(max_rows=25))
    result = runner.run("SELECT txn_id, amount FROM transactions FINAL ORDER BY amount DESC")
    assert len(result.rows) == 25
    assert result.truncated
    assert result.sql.endswith("LIMIT 25")
    with pytest.raises(SqlRejectedError):
        runner.run("SELECT * FROM system.tables")


# --- indexing -------------------------------------------------------------------------------


def test_index_holds_every_kind_of_document(indexed: SyncReport, collection: Any) -> None:
    assert indexed.embedded == indexed.documents > 0
    assert collection.count() == indexed.documents
    kinds = {meta["kind"] for meta in collection.get(include=["metadatas"])["metadatas"]}
    assert kinds == {"alert", "merchant", "card", "table"}


def test_reindexing_is_idempotent_and_follows_deleted_cases(
    clickhouse: ServiceRecord, database: str, world: AgentWorld, embedder: MiniLMEmbedder,
    indexed: SyncReport, collection: Any,
) -> None:  # fmt: skip
    client = connect(clickhouse.endpoints["dsn"])
    window = Window.ending(data_window_end(client, database, datetime.now(UTC)), CASE_DAYS)

    again = sync_documents(collection, build_documents(client, database, window), embedder)
    assert (again.embedded, again.deleted, again.unchanged) == (0, 0, indexed.documents)
    assert collection.count() == indexed.documents

    dismissed = world.alerts.filter(pc.equal(world.alerts["status"], "dismissed")).to_pylist()[0]
    client.command(f"DELETE FROM {database}.alerts WHERE alert_id = '{dismissed['alert_id']}'")
    try:
        after_delete = sync_documents(collection, build_documents(client, database, window), embedder)
        # the case, and the card / merchant profiles that existed only because of it
        assert 1 <= after_delete.deleted <= 3
        assert collection.get(ids=[f"alert:{dismissed['alert_id']}"])["ids"] == []
        assert collection.count() == indexed.documents - after_delete.deleted
    finally:  # put the case back: the other tests expect the world as generated
        client.insert_arrow(
            f"{database}.alerts", pa.Table.from_pylist([dismissed], schema=world.alerts.schema)
        )
    restored = sync_documents(collection, build_documents(client, database, window), embedder)
    assert restored.deleted == 0
    assert collection.count() == indexed.documents


# --- retrieval ------------------------------------------------------------------------------


def ring_victims(world: AgentWorld) -> tuple[set[str], dict[str, set[str]]]:
    """The ring with the most victim cards: its merchants and, per victim card, the merchants it hit."""
    truth = world.transactions.filter(pc.equal(world.transactions["fraud_mechanism"], "fraud_ring"))
    victims_by_ring: list[dict[str, set[str]]] = []
    for ring in world.rings:
        victims: dict[str, set[str]] = {}
        for row in truth.select(["card_id", "merchant_id"]).to_pylist():
            if row["merchant_id"] in ring:
                victims.setdefault(row["card_id"], set()).add(row["merchant_id"])
        victims_by_ring.append(victims)
    best = max(range(len(world.rings)), key=lambda i: len(victims_by_ring[i]))
    return world.rings[best], victims_by_ring[best]


def test_retrieval_returns_the_cases_of_a_known_fraud_ring(
    world: AgentWorld, collection: Any, embedder: MiniLMEmbedder
) -> None:
    merchants, victims = ring_victims(world)
    assert len(victims) >= 2, "the generated world should hold a ring with several victims"
    search = CaseSearch(lambda: collection, embedder)
    listed = sorted(merchants)[:3]

    hits = search.search(f"Which cards were hit by the fraud ring at online merchants {', '.join(listed)}?",
                         k=5, kinds=["alert"])  # fmt: skip

    named = [hit for hit in hits if hit.matched_ids]  # the rest of the k are plain nearest neighbours
    assert named, "no case names the ring's merchants"
    assert hits[: len(named)] == named
    for hit in named:
        assert hit.metadata["merchant_id"] in merchants
        assert hit.metadata["card_id"] in victims

    card, hit_merchants = next(iter(sorted(victims.items())))
    merchant = sorted(hit_merchants)[0]
    (top, *_) = search.search(
        f"the case of card {card} charged repeatedly at online merchant {merchant}", k=3
    )
    assert top.kind == "alert"
    assert top.metadata["card_id"] == card
    assert top.metadata["merchant_id"] == merchant


# --- the agent, offline ---------------------------------------------------------------------


def top_fraud_merchants(world: AgentWorld, days: int, top: int = 5) -> list[str]:
    """The ranking computed on the generated rows with pyarrow, independently of ClickHouse."""
    txns = world.transactions
    since = pa.scalar(world.latest - timedelta(days=days), txns.schema.field("event_ts").type)
    recent = txns.filter(pc.and_(txns["is_fraud"], pc.greater(txns["event_ts"], since)))
    grouped = recent.group_by("merchant_id").aggregate(
        [("txn_id", "count"), ("card_id", "count_distinct"), ("amount", "sum")]
    )
    rows = sorted(
        grouped.to_pylist(),
        key=lambda r: (
            -r["txn_id_count"],
            -r["card_id_count_distinct"],
            -round(r["amount_sum"], 2),
            r["merchant_id"],
        ),
    )
    return [row["merchant_id"] for row in rows[:top]]


def test_top_merchants_this_week_is_answered_correctly_and_cited_offline(
    service: AgentService, world: AgentWorld
) -> None:
    expected = top_fraud_merchants(world, days=7)

    answer = service.agent.chat("Which merchants are linked to the most fraud this week?", session_id="it-1")

    assert answer.offline
    assert answer.answer.startswith("[offline answer")
    ranked = [line for line in answer.answer.splitlines() if line[:2] in {f"{i}." for i in range(1, 10)}]
    assert [line.split()[2].rstrip(":") for line in ranked] == expected
    assert "in the 7 days up to" in answer.answer
    (ranking_sql, _) = (c.sql for c in answer.citations.sql)
    assert "INTERVAL '7' DAY" in ranking_sql
    assert f"FROM {service.settings.clickhouse_database}.transactions FINAL" in ranking_sql
    cited = {doc.id for doc in answer.citations.documents}
    assert {f"merchant:{m}" for m in expected} <= cited
    for merchant in expected:
        assert f"[merchant:{merchant}]" in answer.answer


def test_a_case_question_cites_the_case(service: AgentService, world: AgentWorld) -> None:
    alert = world.alerts.filter(pc.equal(world.alerts["source"], "model")).to_pylist()[-1]
    answer = service.agent.chat(f"Show me the case {alert['alert_id']}", session_id="it-2")
    assert f"Alert {alert['alert_id']}: card {alert['card_id']}" in answer.answer
    assert f"alert:{alert['alert_id']}" in [doc.id for doc in answer.citations.documents]
    assert service.sessions.history("it-2")[0][0] == f"Show me the case {alert['alert_id']}"


def test_sql_playground_is_guarded(service: AgentService, database: str) -> None:
    result = service.run_sql("SELECT status, count() AS n FROM alerts FINAL GROUP BY status ORDER BY status")
    assert [row[0] for row in result.rows] == ["dismissed", "open"]
    with pytest.raises(SqlRejectedError):
        service.run_sql(f"SELECT * FROM {database}.alerts; DROP TABLE {database}.alerts")


def test_offline_notification_states_the_alert_facts(service: AgentService, world: AgentWorld) -> None:
    alert = world.alerts.filter(pc.equal(world.alerts["source"], "model")).to_pylist()[0]
    txn = world.transactions.filter(pc.equal(world.transactions["txn_id"], alert["txn_id"])).to_pylist()[0]

    note = service.notification(alert["alert_id"])

    assert note.offline
    assert f"${txn['amount']:,.2f}" in note.body
    assert alert["alert_id"] in note.body
    assert "card ending in" in note.subject
    assert "never ask you for your full card number" in note.body
    assert note.sql
    with pytest.raises(AlertNotFoundError):
        service.notification("al_missing")


# --- the DAG ---------------------------------------------------------------------------------


def test_the_index_dag_rerun_on_unchanged_data_embeds_nothing(
    airflow: ServiceRecord, clickhouse: ServiceRecord, chroma: ServiceRecord, database: str,
    indexed: SyncReport, collection: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    errors = prepare_dag_test(Path(airflow.endpoints["airflow_home"]))
    assert not any(errors.values()), errors
    env = airflow_environment(database, chroma.endpoints["url"], days=CASE_DAYS)
    env["AIRFLOW_CONN_FRAUDLAKE_CLICKHOUSE"] = json.dumps(
        {"conn_type": "generic", "extra": {"dsn": clickhouse.endpoints["dsn"]}}
    )
    env["FRAUDLAKE_EMBEDDINGS_PROVIDER"] = "local"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(DAGS_FOLDER).dags["index_to_chroma"]
    run = dag.test(run_conf={"window_end": datetime.now(UTC).isoformat()})

    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert states == {"sync_index": "success", "verify_index": "success"}
    sync = next(ti for ti in run.get_task_instances() if ti.task_id == "sync_index")
    report = sync.xcom_pull(task_ids="sync_index")
    assert report["embedded"] == 0
    assert report["unchanged"] == report["documents"] == indexed.documents
    assert collection.count() == indexed.documents


# --- the API routes --------------------------------------------------------------------------

API_KEY = "agent-it-key-8d2e1f0a9c7b6354"
AUTH = {"X-API-Key": API_KEY}
AGENT_OPERATIONS = [
    ("POST", "/v1/agent/chat"),
    ("POST", "/v1/sql"),
    ("POST", "/v1/alerts/{alert_id}/notification"),
]


@pytest.fixture(scope="module")
def api(clickhouse: ServiceRecord, database: str, service: AgentService) -> tuple[Any, Any]:
    """The real app (no model loaded: the agent routes do not need one) serving this module's agent."""
    from fastapi.testclient import TestClient

    from fraudlake.api.main import create_app
    from fraudlake.api.settings import ApiSettings
    from fraudlake.ml.registry import MemoryStore, ModelRegistry

    # The fuzzing below sends hundreds of requests a minute with one key: limits far above that (the
    # limits themselves are tested in tests/unit/api/test_api_rate_limits.py).
    unlimited = {f"rate_limit_{group}_burst": 100_000 for group in ("agent", "sql", "notification")}
    settings = ApiSettings(
        api_keys=API_KEY,
        clickhouse_dsn=SecretStr(clickhouse.endpoints["dsn"]),
        clickhouse_database=database,
        **unlimited,
    )
    app = create_app(settings, ModelRegistry(MemoryStore(), "models"))
    app.state.services.agent = service  # with the stack's ChromaDB and the module's embedder
    return app, TestClient(app)


def test_chat_route_answers_with_citations(api: Any, world: AgentWorld) -> None:
    _, client = api
    response = client.post(
        "/v1/agent/chat",
        json={"message": "Which merchants are linked to the most fraud this week?"},
        headers=AUTH,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["offline"] is True
    assert body["provider"] == "offline"
    assert body["citations"]["sql"][0]["sql"].startswith("SELECT merchant_id")
    assert f"merchant:{top_fraud_merchants(world, 7)[0]}" in [d["id"] for d in body["citations"]["documents"]]
    follow_up = client.post(
        "/v1/agent/chat", json={"message": "and cards?", "session_id": body["session_id"]}, headers=AUTH
    )
    assert follow_up.json()["session_id"] == body["session_id"]
    assert client.post("/v1/agent/chat", json={"message": "hi"}).status_code == 401


def test_sql_route_refuses_with_400_and_runs_selects(api: Any) -> None:
    _, client = api
    ok = client.post("/v1/sql", json={"sql": "SELECT count() AS n FROM alerts FINAL"}, headers=AUTH)
    assert ok.status_code == 200, ok.text
    assert ok.json()["columns"] == ["n"]
    refused = client.post("/v1/sql", json={"sql": "INSERT INTO alerts (alert_id) VALUES ('x')"}, headers=AUTH)
    assert refused.status_code == 400
    assert refused.json()["error"] == "sql_rejected"
    failed = client.post("/v1/sql", json={"sql": "SELECT no_such_column FROM alerts"}, headers=AUTH)
    assert failed.status_code == 400
    assert failed.json()["error"] == "sql_failed"


def test_notification_route(api: Any, world: AgentWorld) -> None:
    _, client = api
    alert_id = world.alerts["alert_id"][0].as_py()
    response = client.post(f"/v1/alerts/{alert_id}/notification", headers=AUTH)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["offline"] is True
    assert alert_id in body["body"]
    assert body["sql"][0]["row_count"] == 1
    missing = client.post("/v1/alerts/al_nope/notification", headers=AUTH)
    assert missing.status_code == 404


def test_agent_routes_without_clickhouse_are_503(monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient

    from fraudlake.api.main import create_app
    from fraudlake.api.settings import ApiSettings
    from fraudlake.ml.registry import MemoryStore, ModelRegistry

    app = create_app(ApiSettings(api_keys=API_KEY), ModelRegistry(MemoryStore(), "models"))
    response = TestClient(app).post("/v1/sql", json={"sql": "SELECT 1"}, headers=AUTH)
    assert response.status_code == 503
    assert "FRAUDLAKE_CLICKHOUSE_DSN" in response.json()["message"]


@pytest.mark.parametrize(("method", "path"), AGENT_OPERATIONS)
def test_agent_routes_fuzzed_never_fail_with_5xx(api: Any, method: str, path: str) -> None:
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.generation.modes import GenerationMode
    from schemathesis.specs.openapi.checks import positive_data_acceptance

    app, _ = api
    operation = schemathesis.openapi.from_asgi("/openapi.json", app)[path][method]
    # A JSON schema cannot say "a SELECT the guard accepts": schema-valid SQL may rightly get a 400.
    excluded = [positive_data_acceptance] if path == "/v1/sql" else []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def authenticated(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=AUTH, excluded_checks=excluded)

        authenticated()
