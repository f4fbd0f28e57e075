"""Read-only SQL for the agent and the UI's SQL playground: a parser guard plus ClickHouse's own limits.

Two independent layers, so that either one alone keeps the data safe:

1. :class:`SqlGuard` parses the text with sqlglot's ClickHouse dialect and accepts exactly one
   SELECT (``WITH … SELECT`` and ``UNION`` of SELECTs included) that reads only the pipeline
   database's own tables and views. It refuses comments, non-ASCII outside string literals, table
   functions (``s3()``, ``url()``, ``file()``, ``remote()`` …), functions that read other tables by
   name (``joinGet``, ``dictGet`` …), ``SETTINGS`` / ``FORMAT`` / ``INTO OUTFILE`` clauses and query
   parameters, identifiers on the right of any ``IN`` form (ClickHouse reads ``x IN (db.t)`` as a
   table), functions that reveal the host (``user()``, ``FQDN()``, ``version()`` …), and it injects
   or clamps ``LIMIT`` (``WITH TIES`` and ``LIMIT … BY`` are capped from outside). CTE names are
   resolved by scope, so inside ``WITH t AS (SELECT * FROM t)`` the inner ``t`` is a table, checked
   as one. What runs is the SQL *regenerated from the checked syntax tree* with every table
   qualified by the pipeline database, so a difference between sqlglot's parser and ClickHouse's
   cannot smuggle anything past the check.
2. :class:`ReadOnlySqlRunner` executes on its own client whose session is read-only and bounded by
   ``max_execution_time``, ``max_result_rows`` and ``max_memory_usage``: ClickHouse itself refuses
   writes, DDL and setting changes even if the parser were bypassed
   (:meth:`ReadOnlySqlRunner.execute_unchecked` exists to prove exactly that). A user whose settings
   profile already has ``readonly=1`` (production's ``fraudlake_reader``) may change no setting, so
   its profile carries the limits and the runner sends only what the session allows
   (:func:`readonly_session_settings`); otherwise the runner sets the limits and then ``readonly=1``.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.optimizer.scope import traverse_scope
from sqlglot.tokens import TokenType

from fraudlake.clickhouse.migrations import SchemaParams, expected_objects, render_statements

log = logging.getLogger(__name__)

DIALECT = "clickhouse"
DEFAULT_MAX_ROWS = 200
MAX_SQL_CHARS = 8000

# Table functions and functions that reach beyond the allowlisted tables (by name, through the
# network or the file system), reveal server internals, or only burn time. Checked case-insensitively
# as prefixes, so `dictGetString`, `s3Cluster`, `remoteSecure` … are covered too.
DENIED_FUNCTION_PREFIXES = (
    "azureblobstorage",
    "catboost",
    "cluster",
    "currentprofiles",
    "currentroles",
    "currentuser",
    "displayname",
    "deltalake",
    "dictget",
    "dicthas",
    "dictisin",
    "executable",
    "file",
    "fqdn",
    "gcs",
    "generaterandom",
    "getclienthttpheader",
    "getmacro",
    "getosmetric",
    "getserverport",
    "getserversetting",
    "getsetting",
    "hascolumnintable",
    "hdfs",
    "hostname",
    "hudi",
    "iceberg",
    "initialquery",
    "input",
    "jdbc",
    "joinget",
    "loop",
    "merge",
    "mongodb",
    "mysql",
    "odbc",
    "postgresql",
    "redis",
    "remote",
    "s3",
    "serveruuid",
    "sleep",
    "sqlite",
    "tcpport",
    "throwif",
    "uptime",
    "url",
    "user",
    "version",
    "view",
    # build and host facts: which server, which build, how long up
    "buildid",
    "revision",
    "zookeepersessionuptime",
)
# The function forms of IN (`in(x, t)`, `globalNotIn(x, t)`, `nullIn` …) take a table name as
# their second argument; the operator forms with a subquery or a literal list cover every need.
_IN_FUNCTION = re.compile(r"^(global)?(not)?(null)?in(ignoreset)?$")
# Literal values allowed in an IN list: what ClickHouse cannot read as a table.
_IN_LIST_ITEMS = (exp.Literal, exp.Null, exp.Boolean, exp.Neg, exp.Tuple, exp.Paren, exp.Array)

# Statements are whitelisted by the root node's type; everything else (Insert, Drop, Create,
# Alter, Set, Command for ATTACH/KILL/OPTIMIZE/SYSTEM/SHOW/EXPLAIN, Describe, …) is refused.
_QUERY_ROOTS = (exp.Select, exp.Union, exp.Intersect, exp.Except)
_SET_OPERATIONS = (exp.Union, exp.Intersect, exp.Except)
# Statement nodes that must not appear anywhere in the tree, not even nested.
_STATEMENTS = (
    exp.Alter, exp.Analyze, exp.Attach, exp.Cache, exp.Command, exp.Commit, exp.Copy, exp.Create,
    exp.Delete, exp.Describe, exp.Detach, exp.Drop, exp.Grant, exp.Insert, exp.Into, exp.Kill,
    exp.LoadData, exp.Merge, exp.Pragma, exp.Refresh, exp.Set, exp.Show, exp.Transaction,
    exp.TruncateTable, exp.Uncache, exp.Update, exp.Use,
)  # fmt: skip
# Raw text outside string literals may only hold printable ASCII and ordinary whitespace.
_PLAIN_TEXT = re.compile(r"^[\x20-\x7e\t\r\n]*$")
_COMMENT_MARKERS = ("--", "/*", "*/", "#")


class SqlRejectedError(ValueError):
    """The SQL is not a single read-only SELECT over the pipeline's tables; the message says why."""


@dataclass(frozen=True)
class GuardedQuery:
    """A checked query: the SQL to run (regenerated, qualified, limited) and what it reads."""

    sql: str
    tables: tuple[str, ...]
    limit: int


def pipeline_tables(database: str) -> frozenset[str]:
    """Tables and views the DDL creates for `database` (the default rendering, without Kafka tables).

    The streaming hot path's Kafka-engine queue table is deliberately absent: a SELECT from it
    would consume messages. Its landing table ``transactions_rt`` is plain data and allowed.
    """
    objects = expected_objects(render_statements(SchemaParams(database)))
    return frozenset([*objects, "transactions_rt"])


class SqlGuard:
    """Checks SQL text against the pipeline database's allowlist; stateless and thread-safe."""

    def __init__(
        self,
        database: str,
        allowed_tables: Iterable[str] | None = None,
        max_rows: int = DEFAULT_MAX_ROWS,
    ) -> None:
        self.database = database
        self.allowed_tables = (
            frozenset(allowed_tables) if allowed_tables is not None else pipeline_tables(database)
        )
        self.max_rows = max_rows

    def check(self, sql: str) -> GuardedQuery:
        """The query to run for `sql`, or SqlRejectedError naming the first rule it breaks."""
        _check_text(sql)
        tree = _parse_single_statement(sql)
        cte_references = _cte_references(tree)
        tables = [self._check_table(table, cte_references) for table in tree.find_all(exp.Table)]
        for node in tree.walk():
            if not isinstance(node, exp.Expression):  # fail closed on node kinds this guard does not know
                raise SqlRejectedError(f"unsupported syntax ({type(node).__name__})")
            _check_node(node, self.database)
        limited, limit = self._limited(tree)
        return GuardedQuery(
            sql=limited.sql(dialect=DIALECT, comments=False),
            tables=tuple(sorted({t for t in tables if t})),
            limit=limit,
        )

    def _check_table(self, table: exp.Table, cte_references: set[int]) -> str | None:
        """Qualify a table reference in place; returns its name (None for a CTE reference)."""
        if not isinstance(table.this, exp.Identifier):
            name = table.this.sql(dialect=DIALECT) if table.this else "?"
            raise SqlRejectedError(
                f"table functions are not allowed (found {name[:60]}); read the pipeline's tables"
            )
        if table.catalog:
            raise SqlRejectedError(f"three-part table names are not allowed: {table.sql(dialect=DIALECT)}")
        name, database = table.name, table.db
        if not database and id(table) in cte_references:
            return None
        if database and database != self.database:
            raise SqlRejectedError(
                f"only the pipeline database {self.database!r} may be read, not {database!r} ({name})"
            )
        if name not in self.allowed_tables:
            raise SqlRejectedError(
                f"unknown table {name!r}; readable tables: {', '.join(sorted(self.allowed_tables))}"
            )
        table.set("db", exp.to_identifier(self.database))
        return name

    def _limited(self, tree: exp.Expression) -> tuple[exp.Expression, int]:
        """`tree` with a top-level LIMIT of at most max_rows (injected when absent)."""
        if isinstance(tree, exp.Select) and _plain_limit(tree.args.get("limit")):
            requested = _literal_int(tree.args["limit"].expression)
            limit = min(requested, self.max_rows) if requested is not None else self.max_rows
            tree.args["limit"].set("expression", exp.Literal.number(limit))
            return tree, limit
        if isinstance(tree, exp.Select) and tree.args.get("limit") is None:
            return tree.limit(self.max_rows, copy=False), self.max_rows
        # UNION (whose trailing LIMIT binds to its last SELECT in ClickHouse), LIMIT … BY, WITH TIES
        # or a computed limit: cap the whole result from outside.
        wrapped = exp.select("*").from_(exp.Subquery(this=tree)).limit(self.max_rows)
        return wrapped, self.max_rows


def _check_text(sql: str) -> None:
    if not sql or not sql.strip():
        raise SqlRejectedError("empty query")
    if len(sql) > MAX_SQL_CHARS:
        raise SqlRejectedError(f"query longer than {MAX_SQL_CHARS} characters")
    for char in sql:
        if unicodedata.category(char) in ("Cc", "Cf", "Co", "Cs") and char not in "\t\r\n":
            raise SqlRejectedError(f"invisible or control character U+{ord(char):04X} in the query")
    try:
        tokens = sqlglot.Dialect.get_or_raise(DIALECT).tokenize(sql)
    except TokenError as exc:
        raise SqlRejectedError(f"cannot tokenize the query: {exc}") from exc
    for token in tokens:
        if token.comments:
            raise SqlRejectedError("comments are not allowed in queries")
        if token.token_type in (TokenType.STRING, TokenType.NATIONAL_STRING):
            continue
        if not _PLAIN_TEXT.match(token.text):
            raise SqlRejectedError(f"non-ASCII text outside string literals: {token.text[:40]!r}")
        if token.token_type != TokenType.IDENTIFIER and any(m in token.text for m in _COMMENT_MARKERS):
            raise SqlRejectedError("comment markers are not allowed in queries")


def _parse_single_statement(sql: str) -> exp.Expression:
    try:
        statements = [s for s in sqlglot.parse(sql, read=DIALECT) if s is not None]
    except ParseError as exc:
        first = exc.errors[0]["description"] if exc.errors else str(exc)
        raise SqlRejectedError(f"not a query this endpoint accepts ({first}); send one SELECT") from exc
    if len(statements) != 1:
        raise SqlRejectedError(f"exactly one statement allowed, got {len(statements)}")
    tree = statements[0]
    if not isinstance(tree, _QUERY_ROOTS):
        kind = tree.key.upper() if not isinstance(tree, exp.Command) else str(tree.this).upper()
        raise SqlRejectedError(f"only SELECT queries are allowed, got {kind}")
    return tree


def _cte_references(tree: exp.Expression) -> set[int]:
    """ids of the Table nodes that name a CTE visible in their own scope.

    Resolved by sqlglot's scopes, not by name alone: inside ``WITH t AS (SELECT * FROM t)`` the
    inner ``t`` is not the CTE (ClickHouse's WITH is not recursive) but a table, checked as one.
    """
    try:
        scopes = traverse_scope(tree)
    except Exception as exc:  # sqlglot's scope builder on syntax it does not model: fail closed
        raise SqlRejectedError(f"cannot resolve the query's names ({exc}); simplify the query") from exc
    return {
        id(table)
        for scope in scopes
        for table in scope.tables
        if not table.db and table.name in scope.cte_sources
    }


def _check_node(node: exp.Expression, database: str) -> None:
    """Refuse clauses and expressions that leave the read-only, allowlisted world."""
    if isinstance(node, _STATEMENTS):
        raise SqlRejectedError(f"{node.key.upper()} is not allowed inside a query")
    if isinstance(node, (exp.Select, *_SET_OPERATIONS)):
        for clause in ("settings", "format", "into"):
            if node.args.get(clause):
                raise SqlRejectedError(f"{clause.upper()} clauses are not allowed")
    if isinstance(node, exp.With) and node.args.get("recursive"):
        raise SqlRejectedError("WITH RECURSIVE is not allowed")
    if isinstance(node, (exp.Placeholder, exp.Parameter)):
        raise SqlRejectedError("query parameters are not supported; inline the values")
    if isinstance(node, exp.In):
        _check_in_right_side(node)
    if isinstance(node, exp.Column) and node.args.get("db") and node.text("db") != database:
        raise SqlRejectedError(f"column of another database: {node.sql(dialect=DIALECT)}")
    if isinstance(node, exp.Func):
        for name in _function_names(node):
            if name.startswith(DENIED_FUNCTION_PREFIXES):
                raise SqlRejectedError(f"function {name}() is not allowed in agent queries")
            if _IN_FUNCTION.match(name):
                raise SqlRejectedError(f"{name}() is not allowed; write x IN (SELECT …) or x IN (literals)")


def _check_in_right_side(node: exp.In) -> None:
    """The right of IN / NOT IN / GLOBAL IN / tuple IN is a subquery or a list of literals.

    ClickHouse reads a bare or dotted identifier there, parenthesised or not, as a table or a set:
    ``x IN (other_db.secrets)`` reads that table, which sqlglot parses as a column.
    """
    if node.args.get("field") is not None:
        raise SqlRejectedError("IN <table> is not allowed; write IN (SELECT … FROM <table>)")
    if node.args.get("query") is not None:
        return
    for item in node.expressions:
        if isinstance(item, exp.Subquery):
            continue
        names = (exp.Column, exp.Identifier, exp.Dot, exp.Table)
        if not isinstance(item, _IN_LIST_ITEMS) or any(isinstance(n, names) for n in item.walk()):
            raise SqlRejectedError(
                f"IN ({item.sql(dialect=DIALECT)[:60]}) is not allowed: the right of IN must be a "
                "subquery or literal values (ClickHouse reads a name there as a table)"
            )


def _function_names(node: exp.Func) -> set[str]:
    """The function's names, lowercase: sqlglot's (underscores dropped) and the one ClickHouse will
    run (the regenerated SQL's), since sqlglot maps e.g. `version()` to CURRENT_VERSION."""
    written = str(node.this) if isinstance(node, exp.Anonymous) else node.sql_name()
    regenerated = node.sql(dialect=DIALECT).split("(", 1)[0]
    return {written.lower().replace("_", ""), regenerated.strip().lower()}


def _plain_limit(limit: exp.Expression | None) -> bool:
    """An ordinary `LIMIT n [OFFSET m]` (not LIMIT … BY, not WITH TIES, not a percentage)."""
    if not isinstance(limit, exp.Limit) or limit.args.get("expressions"):
        return False
    options = limit.args.get("limit_options")
    if options is not None and (options.args.get("with_ties") or options.args.get("percent")):
        return False
    return _literal_int(limit.expression) is not None


def _literal_int(node: exp.Expression | None) -> int | None:
    if isinstance(node, exp.Literal) and not node.is_string and node.this.isdigit():
        return int(node.this)
    return None


# --- execution -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SqlLimits:
    """What one guarded query may cost. ClickHouse enforces these, not only the guard."""

    max_rows: int = DEFAULT_MAX_ROWS
    max_execution_seconds: int = 10
    # ClickHouse checks max_result_rows for subquery results too (e.g. `IN (SELECT …)`), so the
    # engine-level backstop is wider than the LIMIT the guard puts on the final result.
    engine_max_result_rows: int = 100_000
    max_memory_bytes: int = 1_000_000_000


@dataclass(frozen=True)
class SqlResult:
    """Rows of one executed query, JSON-ready, with the SQL that actually ran."""

    sql: str
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool  # the result reached the LIMIT: more rows may exist

    def as_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


class UnsafeSessionError(RuntimeError):
    """The ClickHouse user's session cannot be made read-only and bounded: the runner runs nothing on it."""


def limit_settings(limits: SqlLimits) -> dict[str, Any]:
    """The ClickHouse settings that bound one query of the runner."""
    return {
        "max_execution_time": limits.max_execution_seconds,
        "max_result_rows": limits.engine_max_result_rows,
        "result_overflow_mode": "throw",
        "max_memory_usage": limits.max_memory_bytes,
    }


def readonly_session_settings(limits: SqlLimits, session: Mapping[str, Any]) -> dict[str, Any]:
    """The settings the runner sends so that its session is read-only and bounded: only those it may change.

    `session` is the user's view of ``system.settings`` (clickhouse-connect's ``server_settings``:
    name -> value and ``readonly``, 1 when this user may not change it). Under a profile with
    ``readonly=1`` every setting is frozen unless a constraint makes it ``changeable_in_readonly``,
    and sending a frozen one fails every query (clickhouse-connect raises "Setting … is readonly");
    such a profile must bound each limit itself (non-zero), else UnsafeSessionError. A session that
    is not read-only yet gets ``readonly=1`` last, after the limits it freezes.
    """
    wanted = limit_settings(limits)
    frozen = {name for name in wanted if name in session and session[name].readonly}
    unbounded = sorted(name for name in frozen if name.startswith("max_") and session[name].value == "0")
    if unbounded:
        raise UnsafeSessionError(
            f"the ClickHouse user may not set {', '.join(unbounded)} and its settings profile leaves "
            "them unlimited: bound them in the profile (helm/fraudlake-clickhouse profiles.readonly)"
        )
    for name in sorted(frozen):
        if session[name].value != str(wanted[name]):
            log.info("ClickHouse user's profile fixes %s = %s (the runner's %s is not sent)",
                     name, session[name].value, wanted[name])  # fmt: skip
    settings = {name: value for name, value in wanted.items() if name not in frozen}
    readonly = session.get("readonly")
    if readonly is None or readonly.value == "0":
        if readonly is not None and readonly.readonly:
            raise UnsafeSessionError("the ClickHouse user's session is not read-only and may not be made so")
        settings["readonly"] = 1
    return settings


class ReadOnlySqlRunner:
    """Runs guarded SELECTs on a dedicated ClickHouse client in a read-only, bounded session.

    The client is opened on first use and reused; calls are serialised because one chDB handle
    must not run two queries at once. Raises SqlRejectedError for refused SQL, UnsafeSessionError when
    the user's session cannot be made read-only and bounded, and clickhouse-connect's DatabaseError
    for queries ClickHouse fails (time limit, memory, unknown column, missing grant …).
    """

    def __init__(
        self,
        dsn: str,
        database: str,
        limits: SqlLimits | None = None,
        allowed_tables: Iterable[str] | None = None,
    ) -> None:
        self.dsn = dsn
        self.database = database
        self.limits = limits or SqlLimits()
        self.guard = SqlGuard(database, allowed_tables, self.limits.max_rows)
        self._client: Any = None
        self._lock = threading.Lock()

    def run(self, sql: str) -> SqlResult:
        """Check `sql` with the guard, then execute the regenerated query."""
        guarded = self.guard.check(sql)
        return self.execute_unchecked(guarded.sql, limit=guarded.limit)

    def execute_unchecked(self, sql: str, limit: int | None = None) -> SqlResult:
        """Execute `sql` as is on the readonly session: no parsing, ClickHouse's limits only."""
        with self._lock:
            result = self._readonly_client().query(sql)
        rows = [[_json_value(v) for v in row] for row in result.result_rows]
        cap = limit or self.limits.max_rows
        return SqlResult(sql=sql, columns=list(result.column_names), rows=rows, truncated=len(rows) >= cap)

    def _readonly_client(self) -> Any:
        if self._client is None:
            from fraudlake.clickhouse.client import connect

            client = connect(self.dsn, database=self.database)
            # In order: readonly (if sent) is last, because it freezes the settings after it.
            for name, value in readonly_session_settings(self.limits, client.server_settings).items():
                client.set_client_setting(name, value)
            self._client = client
        return self._client


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value
