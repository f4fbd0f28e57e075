"""The production ClickHouse users as helm/fraudlake-clickhouse renders them, enforced by the real engine.

The chart is rendered with the pinned Helm; the reader's and the loader's settings profile and grants
are written as the users.xml the Altinity operator derives from the ClickHouseInstallation, and a local
ClickHouse server (chDB) loads it, so ClickHouse itself applies ``readonly=1``, the profile's limits
and the grants. chDB runs every statement as its ``default`` user, so that user is given the profile
and grants under test; each server runs on data an unrestricted server wrote first (one process owns
a chDB data directory at a time).
"""

from __future__ import annotations

import base64
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
import yaml
from agent_kit import AgentWorld, generate_world, load_world
from clickhouse_connect.driver.exceptions import DatabaseError, ProgrammingError
from pydantic import SecretStr

from fraudlake.agent.service import AgentService
from fraudlake.agent.settings import AgentSettings
from fraudlake.agent.sql_guard import ReadOnlySqlRunner, SqlLimits, limit_settings
from fraudlake.clickhouse.client import connect
from fraudlake.local.chdb_http.process import LocalClickHouseServer
from fraudlake.local.deploy import helm
from fraudlake.local.deploy.layout import chart_dir

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

CHART = "fraudlake-clickhouse"
PIPELINE_DB = "fraudlake"  # the chart's default pipelineDatabases
OTHER_PIPELINE_DB = "fraudlake_eu"  # a later pipeline's database, covered only by a wildcard
FOREIGN_DB = "other_team"  # not a pipeline's: nobody but the operator may touch it
PASSWORD = "access-test-pw"
API_KEY = "access-it-key-5c1d7e9a2b4f6083"


def chi_configuration(values: Path | None = None) -> dict[str, Any]:
    """spec.configuration of the chart's ClickHouseInstallation."""
    (chi,) = [
        doc for doc in helm.manifests(helm.render(CHART, values)) if doc["kind"] == "ClickHouseInstallation"
    ]
    return chi["spec"]["configuration"]


def users_xml(configuration: dict[str, Any], user: str) -> str:
    """A users.xml whose `default` user has `user`'s settings profile and grants from the CHI.

    The operator turns the CHI's `profile/setting` and `user/grants/query` keys into the same XML
    elements; passwords and networks stay out (the local server checks its own password).
    """
    users = configuration["users"]
    profile = users[f"{user}/profile"]
    settings = {
        key.split("/", 1)[1]: value
        for key, value in configuration.get("profiles", {}).items()
        if key.startswith(f"{profile}/")
    }
    profiles = {"default": {}, profile: settings}  # ClickHouse needs a `default` profile
    profiles_xml = "".join(
        f"<{name}>{''.join(f'<{k}>{escape(str(v))}</{k}>' for k, v in values.items())}</{name}>"
        for name, values in profiles.items()
    )
    queries = users.get(f"{user}/grants/query", [])
    grants = f"<grants>{''.join(f'<query>{escape(q)}</query>' for q in queries)}</grants>" if queries else ""
    return (
        f"<clickhouse><profiles>{profiles_xml}</profiles><users><default><password></password>"
        f"<networks><ip>::/0</ip></networks><profile>{profile}</profile><quota>default</quota>"
        f"{grants}</default></users><quotas><default/></quotas></clickhouse>"
    )


def populate(data_dir: Path, log: Path, world: AgentWorld | None = None) -> None:
    """As the unrestricted user: pipeline databases (the agent's world in PIPELINE_DB) and a foreign one."""
    with LocalClickHouseServer(data_dir, log, password=PASSWORD) as admin:
        client = connect(admin.dsn)
        if world is not None:
            load_world(client, PIPELINE_DB, world)
        for database in (PIPELINE_DB, OTHER_PIPELINE_DB, FOREIGN_DB):
            client.command(f"CREATE DATABASE IF NOT EXISTS {database}")
            client.command(f"CREATE TABLE {database}.marker (note String) ENGINE = MergeTree ORDER BY note")
            client.command(f"INSERT INTO {database}.marker VALUES ('{database}')")


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalClickHouseServer]:
    """A server whose every request is the chart's fraudlake_reader, over the agent's world."""
    folder = tmp_path_factory.mktemp("clickhouse-reader")
    populate(folder / "data", folder / "admin.log", generate_world(fraud_rate=0.0015))
    users = folder / "users.xml"
    users.write_text(users_xml(chi_configuration(), "fraudlake_reader"))
    with LocalClickHouseServer(
        folder / "data", folder / "reader.log", user="fraudlake_reader", password=PASSWORD, users_file=users
    ) as running:
        yield running


# Limits other than the profile's (as FRAUDLAKE_AGENT_SQL_TIMEOUT_SECONDS=5 would give): a runner that
# sent its own would fail every query on this user; a value equal to the profile's is never sent.
OWN_LIMITS = SqlLimits(max_execution_seconds=5, engine_max_result_rows=50_000, max_memory_bytes=500_000_000)


@pytest.fixture(scope="module")
def runner(reader: LocalClickHouseServer) -> ReadOnlySqlRunner:
    return ReadOnlySqlRunner(reader.dsn, PIPELINE_DB, OWN_LIMITS)


# --- the chart's users -----------------------------------------------------------------------


def test_reader_profile_is_readonly_and_bounds_every_limit_the_runner_needs() -> None:
    configuration = chi_configuration()
    users, profiles = configuration["users"], configuration["profiles"]
    profile = users["fraudlake_reader/profile"]
    assert profiles[f"{profile}/readonly"] == "1"  # not 2: that would let the user lift the limits
    for name in limit_settings(SqlLimits()):
        assert f"{profile}/{name}" in profiles, f"the reader's profile leaves {name} unset"
    assert all(
        profiles[f"{profile}/{name}"] != "0"
        for name in limit_settings(SqlLimits())
        if name.startswith("max_")
    )
    assert profiles[f"{profile}/result_overflow_mode"] == "throw"
    assert users["fraudlake_reader/grants/query"] == [f"GRANT SELECT ON {PIPELINE_DB}.*"]


def test_loader_gets_insert_and_s3_but_no_ddl() -> None:
    users = chi_configuration()["users"]
    assert users["fraudlake_loader/grants/query"] == [
        f"GRANT SELECT, INSERT ON {PIPELINE_DB}.*",
        "GRANT S3, CREATE TEMPORARY TABLE ON *.*",
    ]
    assert "fraudlake_operator/grants/query" not in users  # it creates and drops the pipelines' databases


def test_pipeline_databases_may_be_a_prefix_and_nothing_wider(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"pipelineDatabases": ["fraudlake_*"]}))
    users = chi_configuration(values)["users"]
    assert users["fraudlake_reader/grants/query"] == ["GRANT SELECT ON fraudlake_*.*"]
    for bad in (["*"], ["fraud*lake"], ["fraudlake.*"], []):
        values.write_text(yaml.safe_dump({"pipelineDatabases": bad}))
        with pytest.raises(helm.HelmError):
            helm.lint(CHART, values)


def test_example_values_keep_the_grants() -> None:
    configuration = chi_configuration(chart_dir(CHART) / "ci" / "example-values.yaml")
    assert configuration["users"]["fraudlake_reader/grants/query"]
    assert configuration["profiles"]["readonly/readonly"] == "1"


# --- the reader against the engine ---------------------------------------------------------------


def test_the_profile_refuses_the_settings_the_runner_used_to_send(reader: LocalClickHouseServer) -> None:
    """The issue, reproduced on the engine: readonly=1 lets the session change no setting at all."""
    with pytest.raises(ProgrammingError, match="Setting max_execution_time is readonly"):
        connect(reader.dsn, PIPELINE_DB, **limit_settings(OWN_LIMITS), readonly=1)
    with pytest.raises(DatabaseError, match=r"Cannot modify 'max_result_rows' setting in readonly mode"):
        connect(reader.dsn, PIPELINE_DB).query("SELECT 1 SETTINGS max_result_rows = 5")


def test_guarded_selects_run_under_the_profile_and_are_cut_at_the_limit(runner: ReadOnlySqlRunner) -> None:
    result = runner.run("SELECT txn_id FROM transactions")
    assert len(result.rows) == runner.limits.max_rows
    assert result.truncated
    assert runner.run("SELECT count() AS n FROM alerts").rows[0][0] > 0


def test_the_profiles_limits_apply_not_the_runners(runner: ReadOnlySqlRunner) -> None:
    profile = chi_configuration()["profiles"]
    rows, seconds = int(profile["readonly/max_result_rows"]), int(profile["readonly/max_execution_time"])
    assert OWN_LIMITS.engine_max_result_rows < rows
    assert OWN_LIMITS.max_execution_seconds < seconds
    assert len(runner.execute_unchecked(f"SELECT number FROM numbers({rows})").rows) == rows
    with pytest.raises(DatabaseError, match="TOO_MANY_ROWS_OR_BYTES"):
        runner.execute_unchecked(f"SELECT number FROM numbers({rows + 1})")
    with pytest.raises(DatabaseError, match=rf"TIMEOUT_EXCEEDED|maximum: {seconds}000"):
        runner.execute_unchecked("SELECT sum(number) FROM numbers(1000000000000)")


@pytest.mark.parametrize(
    ("sql", "refusal"),
    [
        (f"SELECT note FROM {FOREIGN_DB}.marker", f"grant SELECT ON {FOREIGN_DB}.marker"),
        (f"SELECT note FROM {OTHER_PIPELINE_DB}.marker", f"grant SELECT ON {OTHER_PIPELINE_DB}.marker"),
        (f"INSERT INTO {PIPELINE_DB}.marker VALUES ('x')", "readonly mode|Not enough privileges"),
        (f"CREATE TABLE {PIPELINE_DB}.x (a UInt8) ENGINE = Memory", "readonly mode|Not enough privileges"),
        ("SELECT * FROM s3('http://127.0.0.1:9/bucket/x.parquet', 'Parquet', 'a UInt8')", "READ ON S3"),
    ],
)
def test_the_reader_reaches_nothing_beyond_the_pipeline_database(
    runner: ReadOnlySqlRunner, sql: str, refusal: str
) -> None:
    with pytest.raises(DatabaseError, match=refusal):
        runner.execute_unchecked(sql)


def test_the_reader_sees_only_the_pipeline_database(runner: ReadOnlySqlRunner) -> None:
    visible = runner.execute_unchecked("SELECT name FROM system.databases").rows
    assert [row[0] for row in visible] == [PIPELINE_DB]


def test_get_requests_work_for_a_readonly_user(reader: LocalClickHouseServer) -> None:
    """A GET runs read-only (readonly=2) on a server; a user already at readonly=1 must stay there."""
    query = urllib.parse.urlencode(
        {"query": f"SELECT count() FROM {PIPELINE_DB}.marker", "database": PIPELINE_DB}
    )
    request = urllib.request.Request(f"{reader.url}/?{query}")  # noqa: S310 - loopback
    token = base64.b64encode(f"fraudlake_reader:{PASSWORD}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        assert response.read() == b"1\n"


def test_api_routes_serve_the_reader(reader: LocalClickHouseServer, tmp_path: Path) -> None:
    """/v1/sql, chat and notification: all three failed against this user before (400, no data, 500)."""
    from fastapi.testclient import TestClient

    from fraudlake.api.main import create_app
    from fraudlake.api.settings import ApiSettings
    from fraudlake.ml.registry import MemoryStore, ModelRegistry

    settings = ApiSettings(
        api_keys=API_KEY, clickhouse_dsn=SecretStr(reader.dsn), clickhouse_database=PIPELINE_DB
    )
    app = create_app(settings, ModelRegistry(MemoryStore(), "models"))
    agent_settings = AgentSettings(
        clickhouse_dsn=SecretStr(reader.dsn),
        clickhouse_database=PIPELINE_DB,
        llm_provider="offline",
        agent_sql_timeout_seconds=OWN_LIMITS.max_execution_seconds,  # not the profile's
    )
    app.state.services.agent = AgentService(agent_settings)
    client, auth = TestClient(app), {"X-API-Key": API_KEY}

    sql = client.post("/v1/sql", json={"sql": "SELECT count() AS n FROM transactions"}, headers=auth)
    assert sql.status_code == 200, sql.text
    assert sql.json()["rows"][0][0] > 0
    question = {"message": "Which merchants are linked to the most fraud this week?"}
    chat = client.post("/v1/agent/chat", json=question, headers=auth)
    assert chat.status_code == 200, chat.text
    assert chat.json()["citations"]["sql"], chat.text  # the answer read the pipeline's tables
    alert_id = connect(reader.dsn, PIPELINE_DB).query("SELECT alert_id FROM alerts LIMIT 1").result_rows[0][0]
    notification = client.post(f"/v1/alerts/{alert_id}/notification", headers=auth)
    assert notification.status_code == 200, notification.text
    assert alert_id in notification.json()["body"]


# --- the loader against the engine -----------------------------------------------------------------


def test_the_loader_writes_the_pipeline_database_and_nothing_else(tmp_path: Path) -> None:
    populate(tmp_path / "data", tmp_path / "admin.log")
    users = tmp_path / "users.xml"
    users.write_text(users_xml(chi_configuration(), "fraudlake_loader"))
    with LocalClickHouseServer(
        tmp_path / "data",
        tmp_path / "loader.log",
        user="fraudlake_loader",
        password=PASSWORD,
        users_file=users,
    ) as loader:
        # With its database: chDB applies `database` with USE, which needs a grant the server's
        # HTTP `database` parameter does not.
        client = connect(loader.dsn, PIPELINE_DB)
        client.command(f"INSERT INTO {PIPELINE_DB}.marker VALUES ('loaded')")
        assert client.query(f"SELECT count() FROM {PIPELINE_DB}.marker").result_rows[0][0] == 2
        # s3() passes the access check (an explicit structure needs no request to the store).
        described = client.query(
            "DESCRIBE TABLE s3('http://127.0.0.1:9/bucket/x.parquet', 'Parquet', 'a UInt8')"
        )
        assert described.result_rows[0][:2] == ("a", "UInt8")
        for sql in (
            f"SELECT note FROM {FOREIGN_DB}.marker",
            f"INSERT INTO {FOREIGN_DB}.marker VALUES ('x')",
            f"CREATE TABLE {PIPELINE_DB}.x (a UInt8) ENGINE = Memory",
            f"ALTER TABLE {PIPELINE_DB}.marker DELETE WHERE 1",
            f"DROP TABLE {PIPELINE_DB}.marker",
            f"CREATE DATABASE fraudlake_{uuid.uuid4().hex[:6]}",
        ):
            with pytest.raises(DatabaseError, match="ACCESS_DENIED"):
                client.command(sql)


def test_a_wildcard_grant_covers_every_pipeline_database_so_named(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"pipelineDatabases": ["fraudlake*"]}))
    populate(tmp_path / "data", tmp_path / "admin.log")
    users = tmp_path / "users.xml"
    users.write_text(users_xml(chi_configuration(values), "fraudlake_reader"))
    with LocalClickHouseServer(
        tmp_path / "data",
        tmp_path / "reader.log",
        user="fraudlake_reader",
        password=PASSWORD,
        users_file=users,
    ) as reader:
        runner = ReadOnlySqlRunner(reader.dsn, PIPELINE_DB)
        for database in (PIPELINE_DB, OTHER_PIPELINE_DB):
            assert runner.execute_unchecked(f"SELECT note FROM {database}.marker").rows == [[database]]
        with pytest.raises(DatabaseError, match="ACCESS_DENIED"):
            runner.execute_unchecked(f"SELECT note FROM {FOREIGN_DB}.marker")
