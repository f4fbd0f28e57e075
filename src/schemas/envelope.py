"""Serialize Arrow batches of a record to JSON, plain or in Kafka Connect's JsonConverter envelope.

The S3 sink writes typed Parquet only if every message carries its schema (JsonConverter with
`schemas.enable=true`): `{"schema": <Connect struct schema>, "payload": {...}}`. The JSON text is
built column-wise with Arrow compute kernels rather than per row in Python, which is what lets
the producer keep up with the broker.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc

from fraudlake.schemas.fields import FieldType, RecordSchema
from fraudlake.schemas.formats import to_arrow_schema, to_connect_schema

_CONTROL_CHARS = r"[\x00-\x1f]"


class JsonEncoder:
    """Encodes tables shaped like `to_arrow_schema(record)` into one JSON document per row."""

    def __init__(self, record: RecordSchema, envelope: bool = True) -> None:
        self.record = record
        self.arrow_schema = to_arrow_schema(record)
        self.envelope = envelope
        schema_json = json.dumps(to_connect_schema(record), separators=(",", ":"))
        self._prefix = '{"schema":' + schema_json + ',"payload":{' if envelope else "{"
        self._suffix = "}}" if envelope else "}"

    def encode(self, table: pa.Table | pa.RecordBatch) -> pa.Array:
        """A string array with one JSON document per row, in row order."""
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        table = table.select(self.record.names).cast(self.arrow_schema)
        pieces: list[pa.Array | str] = []
        for index, fld in enumerate(self.record.fields):
            column = table.column(fld.name).combine_chunks()
            separator = "," if index else ""
            pieces.append(f'{self._prefix if not index else ""}{separator}"{fld.name}":')
            pieces.append(_json_values(column, fld.type))
        pieces.append(self._suffix)
        joined = pc.binary_join_element_wise(*pieces, "")
        return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined


def _json_values(column: pa.Array, field_type: FieldType) -> pa.Array:
    if field_type == FieldType.STRING:
        text = _quoted(column)
    elif field_type == FieldType.TIMESTAMP_MS:
        text = pc.cast(pc.cast(column, pa.int64()), pa.string())
    else:
        if field_type == FieldType.FLOAT64 and pc.any(pc.invert(pc.is_finite(column))).as_py():
            raise ValueError("JSON has no NaN or infinity; a float column holds one")
        text = pc.cast(column, pa.string())  # bool → true/false, numbers → shortest round-trip text
    return pc.fill_null(text, "null")


def _quoted(column: pa.Array) -> pa.Array:
    if pc.any(pc.match_substring_regex(column, _CONTROL_CHARS)).as_py():
        # Rare: let the json module escape control characters exactly.
        return pa.array([None if v is None else json.dumps(v) for v in column.to_pylist()], pa.string())
    escaped = pc.replace_substring(pc.replace_substring(column, "\\", "\\\\"), '"', '\\"')
    return pc.binary_join_element_wise('"', escaped, '"', "")
