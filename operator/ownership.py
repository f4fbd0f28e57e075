"""Who owns a pipeline's ClickHouse database: pure decisions and the statements that record the owner.

Two FraudPipelines may name the same ``spec.clickhouse.database`` (the CRD cannot see other objects).
Without an owner, both would reconcile it (each dropping the other's rule views, drift putting them
back: flapping) and deleting either with deletionPolicy Delete would drop the other's data. So the
operator records the owner inside the database, in the table ``_fraudlake_owner`` (namespace, name
and uid of the FraudPipeline, and when it claimed the database), and:

- creates and claims a database that does not exist;
- adopts a database that exists without an owner (made before owners were recorded, or by hand);
- reconciles a database the pipeline owns (same namespace and name: a pipeline deleted with Retain
  and created again gets its data back, whatever its new uid);
- refuses a database another pipeline owns (condition TablesReady=False, reason DatabaseOwnedByOther)
  and never touches it;
- drops, with deletionPolicy Delete, only a database the pipeline owns.

The first claim wins: claims are rows, the owner is the earliest row, so two operators claiming at
the same moment agree on one owner. The table lives in the database it describes, so a dropped database
takes its owner with it and the name is free again.

`fraudlake.operator.tables` runs the statements; nothing here talks to ClickHouse.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum

from fraudlake.clickhouse.migrations import IDENTIFIER
from fraudlake.operator.builders import Pipeline

OWNER_TABLE = "_fraudlake_owner"
OWNED_BY_OTHER = "DatabaseOwnedByOther"


@dataclass(frozen=True)
class DatabaseOwner:
    """The FraudPipeline recorded as a database's owner."""

    namespace: str
    name: str
    uid: str = ""

    def same_pipeline(self, other: DatabaseOwner) -> bool:
        """Namespace and name identify the pipeline; the uid changes when it is deleted and created again."""
        return (self.namespace, self.name) == (other.namespace, other.name)

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" + (f" (uid {self.uid})" if self.uid else "")


class Decision(Enum):
    CREATE = "create"  # no database: create it and record this pipeline
    ADOPT = "adopt"  # a database without an owner: record this pipeline
    OURS = "ours"  # recorded owner is this pipeline
    FOREIGN = "foreign"  # another pipeline owns it: do not touch it


def owner_of(pipeline: Pipeline) -> DatabaseOwner:
    return DatabaseOwner(pipeline.namespace, pipeline.name, pipeline.uid)


def decide(database_exists: bool, recorded: DatabaseOwner | None, me: DatabaseOwner) -> Decision:
    """What the operator may do with the database, given what it found."""
    if not database_exists:
        return Decision.CREATE
    if recorded is None:
        return Decision.ADOPT
    return Decision.OURS if recorded.same_pipeline(me) else Decision.FOREIGN


def may_drop(recorded: DatabaseOwner | None, me: DatabaseOwner) -> bool:
    """deletionPolicy Delete drops the database only when this pipeline is its recorded owner."""
    return recorded is not None and recorded.same_pipeline(me)


def refusal_message(database: str, owner: DatabaseOwner) -> str:
    return (
        f"ClickHouse database {database} belongs to FraudPipeline {owner}: this pipeline neither changes "
        "nor drops it; give it a database of its own (spec.clickhouse.database is immutable: create the "
        "pipeline again under another database)"
    )


def kept_message(database: str, recorded: DatabaseOwner | None) -> str:
    """Why deletionPolicy Delete left the database in place."""
    whose = f"belongs to FraudPipeline {recorded}" if recorded else "has no recorded owner"
    return f"kept ClickHouse database {database}: it {whose}, so deleting this pipeline does not drop it"


def create_database_statement(database: str) -> str:
    return f"CREATE DATABASE IF NOT EXISTS {_identifier(database)}"


def owner_table_statement(database: str) -> str:
    """CREATE TABLE IF NOT EXISTS of the owner table (in the database it describes)."""
    return (
        f"CREATE TABLE IF NOT EXISTS {_identifier(database)}.{OWNER_TABLE} "
        "(namespace String, name String, uid String, claimed_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
        "ENGINE = MergeTree ORDER BY (claimed_at, namespace, name) "
        "COMMENT 'The FraudPipeline that owns this database (the earliest claim); written by the operator'"
    )


def claim_statement(database: str, me: DatabaseOwner) -> str:
    """One claim row, as JSONEachRow (no quoting of names by hand)."""
    row = json.dumps({"namespace": me.namespace, "name": me.name, "uid": me.uid})
    return (
        f"INSERT INTO {_identifier(database)}.{OWNER_TABLE} (namespace, name, uid) FORMAT JSONEachRow\n{row}"
    )


def owner_query(database: str) -> str:
    """The recorded owner: the earliest claim."""
    return (
        f"SELECT namespace, name, uid FROM {_identifier(database)}.{OWNER_TABLE} "
        "ORDER BY claimed_at, namespace, name LIMIT 1"
    )


def _identifier(database: str) -> str:
    if not IDENTIFIER.match(database):
        raise ValueError(f"{database!r} is not a safe ClickHouse identifier")
    return database
