"""Render a `RecordSchema` as Avro, JSON Schema, pyarrow (Parquet) and Kafka Connect schemas.

All four describe the same JSON payload the producer sends (`event_ts` as epoch milliseconds).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fraudlake.schemas.fields import Field, FieldType, RecordSchema

if TYPE_CHECKING:
    import pyarrow as pa

_AVRO: dict[FieldType, Any] = {
    FieldType.STRING: "string",
    FieldType.INT32: "int",
    FieldType.INT64: "long",
    FieldType.FLOAT64: "double",
    FieldType.BOOL: "boolean",
    FieldType.TIMESTAMP_MS: {"type": "long", "logicalType": "timestamp-millis"},
}

_JSON: dict[FieldType, dict[str, Any]] = {
    FieldType.STRING: {"type": "string"},
    FieldType.INT32: {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1},
    FieldType.INT64: {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1},
    FieldType.FLOAT64: {"type": "number"},
    FieldType.BOOL: {"type": "boolean"},
    FieldType.TIMESTAMP_MS: {"type": "integer", "minimum": 0, "description": "UTC epoch milliseconds"},
}

_CONNECT: dict[FieldType, dict[str, Any]] = {
    FieldType.STRING: {"type": "string"},
    FieldType.INT32: {"type": "int32"},
    FieldType.INT64: {"type": "int64"},
    FieldType.FLOAT64: {"type": "double"},
    FieldType.BOOL: {"type": "boolean"},
    FieldType.TIMESTAMP_MS: {
        "type": "int64",
        "name": "org.apache.kafka.connect.data.Timestamp",
        "version": 1,
    },
}


def to_avro(record: RecordSchema) -> dict[str, Any]:
    """Avro record schema; nullable fields are `["null", T]` unions defaulting to null."""
    return {
        "type": "record",
        "name": record.record_name,
        "namespace": record.NAMESPACE,
        "doc": record.doc,
        "fraudlake.version": record.version,
        "fields": [_avro_field(fld) for fld in record.fields],
    }


def _avro_field(fld: Field) -> dict[str, Any]:
    avro_type = _AVRO[fld.type]
    out: dict[str, Any] = {
        "name": fld.name,
        "type": ["null", avro_type] if fld.nullable else avro_type,
        "doc": fld.doc,
    }
    if fld.has_default:
        out["default"] = fld.default_value
    return out


def to_json_schema(record: RecordSchema) -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of one payload; unknown properties are rejected."""
    properties = {}
    for fld in record.fields:
        prop = dict(_JSON[fld.type])
        if fld.nullable:
            prop["type"] = [prop["type"], "null"]
        prop["description"] = fld.doc
        if fld.has_default:
            prop["default"] = fld.default_value
        properties[fld.name] = prop
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://fraudlake.io/schemas/{record.name}/v{record.version}.json",
        "title": record.record_name,
        "description": record.doc,
        "type": "object",
        "properties": properties,
        "required": [fld.name for fld in record.fields if not fld.has_default],
        "additionalProperties": False,
    }


def to_arrow_schema(record: RecordSchema) -> pa.Schema:
    """pyarrow schema for Parquet files of this record (required fields are non-nullable)."""
    # Imported here, not with the module: every `fraudlake` command imports the schemas (the CLI
    # does), and pyarrow + numpy would add ~50 MB to processes that never build a Parquet schema
    # (the operator's memory goal in bench/operator_ready.py has no room for them).
    import pyarrow as pa

    arrow_types = {
        FieldType.STRING: pa.string(),
        FieldType.INT32: pa.int32(),
        FieldType.INT64: pa.int64(),
        FieldType.FLOAT64: pa.float64(),
        FieldType.BOOL: pa.bool_(),
        FieldType.TIMESTAMP_MS: pa.timestamp("ms", tz="UTC"),
    }
    fields = [
        pa.field(fld.name, arrow_types[fld.type], nullable=fld.nullable, metadata={"doc": fld.doc})
        for fld in record.fields
    ]
    return pa.schema(
        fields, metadata={"fraudlake.record": record.full_name, "fraudlake.version": str(record.version)}
    )


def to_connect_schema(record: RecordSchema) -> dict[str, Any]:
    """Kafka Connect schema (the `schema` half of a JsonConverter envelope)."""
    fields = []
    for fld in record.fields:
        spec = {**_CONNECT[fld.type], "field": fld.name, "optional": fld.nullable}
        if fld.has_default and fld.default_value is not None:
            spec["default"] = fld.default_value
        fields.append(spec)
    return {
        "type": "struct",
        "name": record.full_name,
        "version": record.version,
        "optional": False,
        "fields": fields,
    }
