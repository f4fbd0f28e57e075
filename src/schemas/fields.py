"""The vocabulary of record definitions: typed fields and versioned records.

A definition is plain data; `fraudlake.schemas.formats` renders it as Avro, JSON Schema, a pyarrow
schema (Parquet) and a Kafka Connect schema, so every representation comes from one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class FieldType(StrEnum):
    """Logical types; each renderer maps them to its own type system."""

    STRING = "string"
    INT32 = "int32"
    INT64 = "int64"
    FLOAT64 = "float64"
    BOOL = "bool"
    TIMESTAMP_MS = "timestamp_ms"  # UTC, milliseconds since the epoch


_NO_DEFAULT = object()


@dataclass(frozen=True)
class Field:
    """One column of a record.

    `kaggle` names the source column in the TabFormer/Kaggle CSV (None for platform fields).
    A nullable field defaults to null; a required field has no default unless one is given, and a
    field added to an existing record must have one (see `fraudlake.schemas.compat`).
    """

    name: str
    type: FieldType
    doc: str
    nullable: bool = False
    kaggle: str | None = None
    default: Any = _NO_DEFAULT

    @property
    def has_default(self) -> bool:
        return self.nullable or self.default is not _NO_DEFAULT

    @property
    def default_value(self) -> Any:
        if self.default is not _NO_DEFAULT:
            return self.default
        if self.nullable:
            return None
        raise ValueError(f"field {self.name} has no default")


@dataclass(frozen=True)
class RecordSchema:
    """A versioned record: bump `version` for every change of its fields' shape."""

    name: str  # snake_case stream name: "transactions", "cards", "users"
    record_name: str  # CamelCase record name used by Avro and Kafka Connect
    version: int
    doc: str
    fields: tuple[Field, ...]
    key_field: str  # the Kafka message key

    NAMESPACE = "io.fraudlake"

    @property
    def full_name(self) -> str:
        return f"{self.NAMESPACE}.{self.record_name}"

    def field(self, name: str) -> Field:
        for fld in self.fields:
            if fld.name == name:
                return fld
        raise KeyError(f"{self.name} has no field {name!r}")

    @property
    def names(self) -> list[str]:
        return [fld.name for fld in self.fields]

    @property
    def kaggle_columns(self) -> dict[str, str]:
        """Kaggle CSV header → field name, in the CSV's column order."""
        return {fld.kaggle: fld.name for fld in self.fields if fld.kaggle}
