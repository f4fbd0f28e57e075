"""How the sink's Parquet columns map onto the pipeline's ClickHouse tables.

The connector writes ``format.output.fields=value,offset,timestamp`` with the envelope on, so every
object has the columns ``value`` (the record as a Parquet group; ClickHouse reads it as a named
Tuple, ``value.txn_id`` …), ``offset`` (Kafka offset, int64) and ``timestamp`` (Kafka record time,
epoch milliseconds). The record's fields are exactly those of `fraudlake.schemas.records`, and the
tables in ``clickhouse/`` use the same column names, so the mapping is generated from the schema.
"""

from __future__ import annotations

from dataclasses import dataclass

from fraudlake.schemas import CARDS, TRANSACTIONS, USERS
from fraudlake.schemas.fields import RecordSchema

VALUE, OFFSET, TIMESTAMP = "value", "offset", "timestamp"


@dataclass(frozen=True)
class LoadTarget:
    """One stream's table: which columns come from which Parquet expressions."""

    stream: str
    record: RecordSchema
    key_fields: tuple[str, ...]  # must never be null or empty (data-quality check)
    identity: tuple[str, ...]  # table columns that identify a row for the anti-join recovery
    version_from_timestamp: bool = False  # entity tables: version = Kafka record time
    fraud_field: str | None = None  # the label whose rate is checked against the sanity band

    @property
    def table(self) -> str:
        return self.stream

    def columns(self) -> list[str]:
        """Table columns the loader fills, in insert order."""
        return self.record.names + (["version"] if self.version_from_timestamp else [])

    def select_expressions(self) -> list[str]:
        """Parquet expressions for `columns()`, same order."""
        exprs = [f"{VALUE}.{name}" for name in self.record.names]
        if self.version_from_timestamp:
            exprs.append(f"toUInt64({TIMESTAMP})")
        return exprs

    def identity_expressions(self) -> list[str]:
        """Parquet expressions of the identity columns (to compare with what the table holds)."""
        by_column = dict(zip(self.columns(), self.select_expressions(), strict=True))
        return [by_column[column] for column in self.identity]

    def presence_key(self) -> tuple[str, ...]:
        """Identity columns without the version: the entity whose row must be in the table."""
        return tuple(column for column in self.identity if column != "version")

    def presence_version(self) -> tuple[str, str]:
        """(table expression, Parquet expression) of the version a present row must reach.

        An entity table (ReplacingMergeTree by version) keeps only the newest version of a key, so
        a row counts as present when its key is there at its version or a newer one; other tables
        need the identity itself (the constant 1 on both sides).
        """
        if self.version_from_timestamp:
            return "max(version)", f"toUInt64({TIMESTAMP})"
        return "toUInt64(1)", "toUInt64(1)"

    def null_key_condition(self) -> str:
        """True for a Parquet row whose key fields are null or empty."""
        checks = [f"isNull({VALUE}.{name}) OR {VALUE}.{name} = ''" for name in self.key_fields]
        return " OR ".join(f"({check})" for check in checks)


TARGETS: dict[str, LoadTarget] = {
    "transactions": LoadTarget(
        "transactions",
        TRANSACTIONS,
        key_fields=("txn_id", "user_id", "card_id", "merchant_id"),
        identity=("txn_id",),
        fraud_field="is_fraud",
    ),
    "cards": LoadTarget(
        "cards",
        CARDS,
        key_fields=("card_id", "user_id"),
        identity=("card_id", "version"),
        version_from_timestamp=True,
    ),
    "users": LoadTarget(
        "users", USERS, key_fields=("user_id",), identity=("user_id", "version"), version_from_timestamp=True
    ),
}


def stream_of(topic: str) -> str:
    """The stream a pipeline topic carries (``fraudlake.<ns>.<pipeline>.<stream>`` → ``<stream>``)."""
    return topic.rsplit(".", 1)[-1]


def target_for(topic: str) -> LoadTarget | None:
    """The table a topic loads into; None for streams the lake keeps but ClickHouse does not load."""
    return TARGETS.get(stream_of(topic))
