"""Reconcile the pipeline's ClickHouse database from clickhouse/*.sql (create if missing, additive),
only once the pipeline owns it (`fraudlake.operator.ownership`: the owner is recorded in the database).

The DSN comes from the Secret named in ``spec.clickhouse.endpointSecret`` (read through the
Kubernetes API). Clients are cached per DSN: a chdb:// DSN must reuse the process's one engine,
and an HTTP client keeps its connection pool. Calls are serialized per DSN because a
clickhouse-connect client's session does not take concurrent queries.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from fraudlake.clickhouse.client import InvalidDsnError, connect
from fraudlake.clickhouse.migrations import (
    StreamingIngestUnsupportedError,
    apply_schema,
    drop_database,
    drop_stale_rule_views,
    expected_objects,
    missing_tables,
    render_statements,
    sync_retention,
)
from fraudlake.operator import kube, ownership
from fraudlake.operator.builders import Pipeline, schema_params
from fraudlake.operator.conditions import condition
from fraudlake.operator.ownership import DatabaseOwner, Decision
from fraudlake.operator.results import Event, Known, StepResult
from fraudlake.pipeline.status import TABLES_READY

_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


class ClickHouseUnavailableError(RuntimeError):
    """ClickHouse could not be reached or refused a statement."""


class DatabaseNotOwnedError(RuntimeError):
    """deletionPolicy Delete, but the database is not this pipeline's to drop."""


def pipeline_dsn(pipeline: Pipeline) -> str:
    """The DSN from the pipeline's endpoint Secret (kube.SecretMissingError when absent)."""
    ref = pipeline.spec.clickhouse.endpoint_secret
    return kube.read_secret_value(pipeline.namespace, ref.name, ref.key).strip()


@functools.cache
def _client(dsn: str) -> Client:
    return connect(dsn)


@contextmanager
def clickhouse(dsn: str) -> Iterator[Client]:
    """A cached client for `dsn`, used by one thread at a time; errors become ClickHouseUnavailableError."""
    with _LOCKS_GUARD:
        lock = _LOCKS.setdefault(dsn, threading.Lock())
    with lock:
        try:
            yield _client(dsn)
        except (ClickHouseError, InvalidDsnError, OSError) as exc:
            raise ClickHouseUnavailableError(_first_line(exc)) from exc


def reconcile_tables(pipeline: Pipeline, known: Known) -> StepResult:
    """Claim the database (`fraudlake.operator.ownership`), apply the pipeline's DDL idempotently and
    report which tables and views are present. A database another pipeline owns is left untouched.

    Objects that `known` lists but that were missing (dropped behind our back) are reported repaired.
    """
    params = schema_params(pipeline)
    statements = render_statements(params)
    expected = expected_objects(statements)
    status: dict[str, Any] = {"database": params.database}
    try:
        dsn = pipeline_dsn(pipeline)
        with clickhouse(dsn) as client:
            decision, owner = claim_database(client, params.database, ownership.owner_of(pipeline))
            if decision is not Decision.FOREIGN:
                missing_before = missing_tables(client, params.database, expected)
                apply_schema(client, statements)
                stale = drop_stale_rule_views(client, params.database, statements)
                altered = sync_retention(client, params.database, params.retention_days)
                missing_after = missing_tables(client, params.database, expected)
    except kube.SecretMissingError as exc:
        message = f"{exc}; it must hold the ClickHouse DSN"
        return StepResult(condition(TABLES_READY, False, "SecretNotFound", message), status, waiting=message)
    except StreamingIngestUnsupportedError as exc:
        message = str(exc)
        return StepResult(
            condition(TABLES_READY, False, "StreamingIngestUnsupported", message), status, permanent=message
        )
    except ClickHouseUnavailableError as exc:
        message = f"ClickHouse unavailable: {exc}"
        return StepResult(
            condition(TABLES_READY, False, "ClickHouseUnavailable", message), status, waiting=message
        )
    if decision is Decision.FOREIGN:
        assert owner is not None
        message = ownership.refusal_message(params.database, owner)
        return StepResult(
            condition(TABLES_READY, False, ownership.OWNED_BY_OTHER, message),
            status,
            [Event("Warning", ownership.OWNED_BY_OTHER, message)],
            permanent=message,
        )
    present = [name for name in expected if name not in missing_after]
    status |= {"tables": present, "tablesReady": f"{len(present)}/{len(expected)}"}
    recreated = [name for name in missing_before if name in known.tables]
    events = _table_events(params.database, missing_before, recreated, stale, altered)
    if decision is Decision.ADOPT:
        message = f"Recorded this pipeline as the owner of the existing database {params.database}"
        events.insert(0, Event("Normal", "DatabaseAdopted", message))
    repaired = [f"ClickHouse {params.database}.{name}" for name in recreated]
    if missing_after:
        message = f"tables missing after applying the DDL: {', '.join(missing_after)}"
        return StepResult(
            condition(TABLES_READY, False, "TablesMissing", message),
            status,
            events,
            repaired,
            waiting=message,
        )
    message = f"{len(present)} tables and views present in ClickHouse database {params.database}"
    return StepResult(condition(TABLES_READY, True, "TablesReady", message), status, events, repaired)


def claim_database(client: Client, database: str, me: DatabaseOwner) -> tuple[Decision, DatabaseOwner | None]:
    """Check-then-claim: find the recorded owner; create the database and/or record `me` when it has none.

    After a claim the owner is read back: of two claims at once the earliest wins, and the loser gets
    FOREIGN. Returns the decision and the owner recorded afterwards.
    """
    exists = database_exists(client, database)
    recorded = database_owner(client, database) if exists else None
    decision = ownership.decide(exists, recorded, me)
    if decision in (Decision.CREATE, Decision.ADOPT):
        client.command(ownership.create_database_statement(database))
        client.command(ownership.owner_table_statement(database))
        client.command(ownership.claim_statement(database, me))
        recorded = database_owner(client, database)
        if recorded is None or not recorded.same_pipeline(me):
            decision = Decision.FOREIGN
    return decision, recorded


def database_exists(client: Client, database: str) -> bool:
    result = client.query(
        "SELECT count() FROM system.databases WHERE name = {database:String}",
        parameters={"database": database},
    )
    return bool(result.result_rows[0][0])


def database_owner(client: Client, database: str) -> DatabaseOwner | None:
    """The recorded owner of `database`; None when it has none (or does not exist)."""
    found = client.query(
        "SELECT count() FROM system.tables WHERE database = {database:String} AND name = {table:String}",
        parameters={"database": database, "table": ownership.OWNER_TABLE},
    )
    if not found.result_rows[0][0]:
        return None
    rows = client.query(ownership.owner_query(database)).result_rows
    return DatabaseOwner(*rows[0]) if rows else None


def drop_pipeline_database(pipeline: Pipeline) -> None:
    """deletionPolicy Delete: drop the database, only if this pipeline is its recorded owner.

    Raises DatabaseNotOwnedError (nothing dropped) when another pipeline owns it or no owner is recorded,
    ClickHouseUnavailableError, SecretMissingError. A database that is gone already is fine.
    """
    database = pipeline.spec.clickhouse.database
    with clickhouse(pipeline_dsn(pipeline)) as client:
        if not database_exists(client, database):
            return
        recorded = database_owner(client, database)
        if not ownership.may_drop(recorded, ownership.owner_of(pipeline)):
            raise DatabaseNotOwnedError(ownership.kept_message(database, recorded))
        drop_database(client, database)


def _table_events(
    database: str, missing: list[str], recreated: list[str], stale: list[str], altered: list[str]
) -> list[Event]:
    events = []
    created = [name for name in missing if name not in recreated]
    if created:
        events.append(Event("Normal", "TablesCreated", f"Created in {database}: {', '.join(created)}"))
    if recreated:
        events.append(Event("Normal", "TablesRecreated", f"Recreated in {database}: {', '.join(recreated)}"))
    if stale:
        events.append(
            Event("Normal", "RuleViewsDropped", f"Dropped views of removed rules: {', '.join(stale)}")
        )
    if altered:
        events.append(Event("Normal", "RetentionUpdated", f"Updated the TTL of {', '.join(altered)}"))
    return events


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
