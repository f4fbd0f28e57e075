"""The pipeline database's DDL: render the templated SQL in ``clickhouse/`` and apply it idempotently.

``clickhouse/NNN_*.sql`` (shipped as the ``fraudlake.ddl`` package) is the single source of truth:
the operator, the tests and the local demo all render and apply exactly these files. Files run in
name order and are additive migrations only: tables are ``CREATE … IF NOT EXISTS``, later changes are
new files with ``ALTER … ADD COLUMN IF NOT EXISTS``, and views (which hold no data) are
``CREATE OR REPLACE`` so they follow spec changes. Applying the same statements twice is a no-op.

Rendering is pure (no ClickHouse needed); the functions taking a ``client`` talk to ClickHouse through
clickhouse-connect (``fraudlake.clickhouse.client.connect``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Literal

import jinja2
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

DDL_PACKAGE = "fraudlake.ddl"
IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
RESERVED_DATABASES = frozenset({"system", "default", "information_schema"})
_CREATED_OBJECT = re.compile(
    r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:TABLE|VIEW|MATERIALIZED\s+VIEW)\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    r"(\w+)\.(\w+)",
    re.IGNORECASE,
)
_STATEMENT_END = re.compile(r";[ \t]*(?:\n|$)")
_KAFKA_ENGINE = re.compile(r"\bENGINE\s*=\s*Kafka\b")
# Why chDB must never be given a Kafka-engine table (said by apply_schema and the local server).
CHDB_KAFKA_LIMITATION = (
    "chdb 4.4 fails to start its consumer and the data directory no longer opens afterwards"
)
# How a server without a usable Kafka engine refuses one: NOT_IMPLEMENTED (the local chDB server)
# or UNKNOWN_STORAGE (a ClickHouse built without Kafka). Both are permanent, not worth a retry.
_NO_KAFKA_ENGINE = re.compile(r"\bcode: (48|56)\b", re.IGNORECASE)


class SchemaParamsError(ValueError):
    """The parameters would render invalid or unsafe SQL (bad identifier, missing Kafka settings)."""


class StreamingIngestUnsupportedError(RuntimeError):
    """The ClickHouse behind the client cannot run the streaming-ingest hot path."""


@dataclass(frozen=True)
class RuleParams:
    """One windowed fraud rule rendered as the view ``rule_<name>``."""

    name: str
    type: Literal["SpendBurst", "Velocity"]
    window_minutes: int
    min_count: int
    enabled: bool = True


# The seeds' Flink/ksqlDB rules: 10-minute window with count ≥ 2 and total above the user's average
# spending; more than 10 transactions on one card within 5 minutes.
SEED_RULES: tuple[RuleParams, ...] = (
    RuleParams("spend_burst_10m", "SpendBurst", window_minutes=10, min_count=2),
    RuleParams("velocity_5m", "Velocity", window_minutes=5, min_count=11),
)


@dataclass(frozen=True)
class SchemaParams:
    """What the templates need from a pipeline spec."""

    database: str
    retention_days: int = 0  # 0: keep forever (no TTL)
    streaming_ingest: bool = False
    # The pipeline captures the bank's users and cards (spec.sources): their current-state and history
    # tables (clickhouse/140, 141) exist only then.
    change_data_capture: bool = False
    kafka_bootstrap: str = ""
    kafka_topic: str = ""
    kafka_group: str = ""  # default: fraudlake-<database>-rt
    rules: tuple[RuleParams, ...] = field(default=SEED_RULES)


def render_statements(params: SchemaParams) -> list[str]:
    """The ordered DDL statements for `params` (no trailing semicolons, comment-only chunks dropped).

    Raises SchemaParamsError for identifiers that are not ``[a-z_][a-z0-9_]*`` (they are spliced
    into SQL unquoted), reserved database names, or streaming ingest without Kafka settings.
    """
    _validate(params)
    context = {
        "database": params.database,
        "retention_days": params.retention_days,
        "streaming_ingest": params.streaming_ingest,
        "change_data_capture": params.change_data_capture,
        "kafka_bootstrap": params.kafka_bootstrap,
        "kafka_topic": params.kafka_topic,
        "kafka_group": params.kafka_group or f"fraudlake-{params.database}-rt",
        "rules": params.rules,
    }
    statements: list[str] = []
    for name, template in _compiled_templates():
        try:
            rendered = template.render(context)
        except jinja2.TemplateError as exc:
            raise SchemaParamsError(f"clickhouse/{name}: {exc}") from exc
        statements += split_statements(rendered)
    return statements


@functools.cache
def _compiled_templates() -> tuple[tuple[str, jinja2.Template], ...]:
    # Compiled once per process: the files ship with the package, and compiling them on every
    # call cost the operator ~40 ms of CPU per reconcile attempt (bench/operator_ready.py).
    # SQL, not HTML: identifiers are validated and strings go through the sql_string filter.
    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701
    )
    env.filters["sql_string"] = sql_string
    compiled = []
    for name, text in template_files():
        try:
            compiled.append((name, env.from_string(text)))
        except jinja2.TemplateError as exc:
            raise SchemaParamsError(f"clickhouse/{name}: {exc}") from exc
    return tuple(compiled)


def template_files() -> list[tuple[str, str]]:
    """(file name, text) of every ``clickhouse/*.sql``, in name (= migration) order."""
    root = resources.files(DDL_PACKAGE)
    files = sorted((entry.name, entry) for entry in root.iterdir() if entry.name.endswith(".sql"))
    return [(name, entry.read_text(encoding="utf-8")) for name, entry in files]


def split_statements(sql: str) -> list[str]:
    """Split rendered SQL on semicolons that end a line; drop chunks holding only comments."""
    statements = []
    for chunk in _STATEMENT_END.split(sql):
        if _without_comments(chunk).strip():
            statements.append(chunk.strip())
    return statements


def sql_string(value: str) -> str:
    """`value` as a single-quoted ClickHouse string literal."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def expected_objects(statements: Iterable[str]) -> list[str]:
    """Names of the tables and views `statements` create, in order (without the database)."""
    names = []
    for statement in statements:
        match = _CREATED_OBJECT.match(_without_comments(statement))
        if match and match.group(2) not in names:
            names.append(match.group(2))
    return names


def apply_schema(client: Client, statements: Sequence[str]) -> None:
    """Run `statements` in order. Idempotent: every statement is IF NOT EXISTS / OR REPLACE / additive.

    Raises StreamingIngestUnsupportedError before running anything when `client` is in-process chDB
    and the statements hold a Kafka-engine table, or when a server refuses that table as
    unsupported; clickhouse-connect's DatabaseError when a statement fails otherwise.
    """
    if is_chdb(client) and any(creates_kafka_table(s) for s in statements):
        raise StreamingIngestUnsupportedError(
            f"chDB cannot host the Kafka-engine table of streamingIngest: {CHDB_KAFKA_LIMITATION}; "
            "use a ClickHouse server for the hot path or set streamingIngest to false"
        )
    for statement in statements:
        try:
            client.command(statement)
        except DatabaseError as exc:
            if creates_kafka_table(statement) and _NO_KAFKA_ENGINE.search(str(exc)):
                reason = str(exc).strip().splitlines()[0]
                raise StreamingIngestUnsupportedError(
                    f"this ClickHouse cannot host the Kafka-engine table of streamingIngest ({reason}); "
                    "set streamingIngest to false or use a server with the Kafka engine"
                ) from exc
            raise


def creates_kafka_table(statement: str) -> bool:
    """Whether `statement` creates a Kafka-engine table (which chDB cannot host)."""
    return bool(_KAFKA_ENGINE.search(_without_comments(statement)))


def is_chdb(client: Client) -> bool:
    """Whether `client` runs ClickHouse in-process (chDB) rather than talking to a server."""
    return type(client).__module__.endswith("_chdbclient")


def existing_objects(client: Client, database: str) -> set[str]:
    """Tables and views present in `database` (empty when the database does not exist)."""
    result = client.query(
        "SELECT name FROM system.tables WHERE database = {database:String}", parameters={"database": database}
    )
    return {row[0] for row in result.result_rows}


def missing_tables(client: Client, database: str, expected: Iterable[str] | None = None) -> list[str]:
    """Which of `expected` (default: the objects of the default rendering) are absent from `database`."""
    if expected is None:
        expected = expected_objects(render_statements(SchemaParams(database)))
    present = existing_objects(client, database)
    return [name for name in expected if name not in present]


def drop_stale_rule_views(client: Client, database: str, statements: Sequence[str]) -> list[str]:
    """Drop ``rule_*`` views that the current rules no longer render (disabled or removed rules)."""
    wanted = set(expected_objects(statements))
    present = existing_objects(client, database)
    stale = sorted(name for name in present if name.startswith("rule_") and name not in wanted)
    for name in stale:
        client.command(f"DROP VIEW IF EXISTS {_identifier(database)}.{_identifier(name)}")
    return stale


def sync_retention(client: Client, database: str, retention_days: int) -> list[str]:
    """Bring the transactions tables' TTL in line with `retention_days` (CREATE only sets it once).

    Returns the tables altered. Existing parts are not rewritten (``materialize_ttl_after_modify=0``):
    the new TTL applies as parts merge, and whole expired partitions drop (``ttl_only_drop_parts``).
    """
    db = _identifier(database)
    days = int(retention_days)
    ttl = f"toDateTime(event_ts) + toIntervalDay({days})" if days else ""
    altered = []
    for table in ("transactions", "transactions_rt"):
        current = _table_ttl(client, database, table)
        if current is None or _normalise(current) == _normalise(ttl):
            continue
        if ttl:
            statement = f"ALTER TABLE {db}.{table} MODIFY TTL toDateTime(event_ts) + INTERVAL {days} DAY"
        else:
            statement = f"ALTER TABLE {db}.{table} REMOVE TTL"
        client.command(statement, settings={"materialize_ttl_after_modify": 0})
        altered.append(table)
    return altered


def drop_database(client: Client, database: str) -> None:
    """Remove the pipeline database and everything in it (deletionPolicy: Delete)."""
    client.command(f"DROP DATABASE IF EXISTS {_identifier(database)} SYNC")


def _table_ttl(client: Client, database: str, table: str) -> str | None:
    """The table's TTL expression ('' when none); None when the table does not exist."""
    result = client.query(
        "SELECT engine_full FROM system.tables WHERE database = {database:String} AND name = {table:String}",
        parameters={"database": database, "table": table},
    )
    if not result.result_rows:
        return None
    engine_full = result.result_rows[0][0]
    match = re.search(r"\bTTL\s+(.*?)(?:\s+SETTINGS\b|$)", engine_full)
    return match.group(1) if match else ""


def _normalise(expression: str) -> str:
    return re.sub(r"\s+", "", expression)


def _identifier(name: str) -> str:
    if not IDENTIFIER.match(name):
        raise SchemaParamsError(
            f"{name!r} is not a safe ClickHouse identifier ([a-z_][a-z0-9_]*, ≤ 63 characters)"
        )
    return name


def _without_comments(statement: str) -> str:
    return "\n".join(line for line in statement.splitlines() if not line.lstrip().startswith("--"))


def _validate(params: SchemaParams) -> None:
    _identifier(params.database)
    if params.database in RESERVED_DATABASES:
        raise SchemaParamsError(f"database {params.database!r} is reserved; choose one for the pipeline")
    if params.retention_days < 0:
        raise SchemaParamsError(f"retention_days must be ≥ 0 (0: keep forever), got {params.retention_days}")
    for rule in params.rules:
        _identifier(f"rule_{rule.name}")
        if rule.window_minutes < 1 or rule.min_count < 1:
            raise SchemaParamsError(f"rule {rule.name!r}: window_minutes and min_count must be ≥ 1")
    if params.streaming_ingest and not (params.kafka_bootstrap and params.kafka_topic):
        raise SchemaParamsError("streaming ingest needs kafka_bootstrap and kafka_topic")
