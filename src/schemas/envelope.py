"""Serialize Arrow batches of a record to JSON, plain or in Kafka Connect's JsonConverter envelope.

The S3 sink writes typed Parquet only if every message carries its schema (JsonConverter with
`schemas.enable=true`): `{"schema": <Connect struct schema>, "payload": {...}}`. The JSON text is
built column-wise with Arrow compute kernels rather than per row in Python; only the constant
envelope around each payload is added per row (a string concatenation, cheaper in Python than
in Arrow's join kernel for a 1.5 kB constant).
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fraudlake.schemas.fields import FieldType, RecordSchema
from fraudlake.schemas.formats import to_arrow_schema, to_connect_schema


class JsonEncoder:
    """Encodes tables shaped like `to_arrow_schema(record)` into one JSON document per row."""

    def __init__(self, record: RecordSchema, envelope: bool = True) -> None:
        self.record = record
        self.arrow_schema = to_arrow_schema(record)
        self.envelope = envelope
        schema_json = json.dumps(to_connect_schema(record), separators=(",", ":"))
        self._prefix = '{"schema":' + schema_json + ',"payload":' if envelope else ""
        self._suffix = "}" if envelope else ""

    def payloads(self, table: pa.Table | pa.RecordBatch) -> pa.Array:
        """A string array with each row's payload object as JSON, in row order."""
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        table = table.select(self.record.names).cast(self.arrow_schema)
        pieces: list[pa.Array | str] = []
        for index, fld in enumerate(self.record.fields):
            column = table.column(fld.name).combine_chunks()
            pieces.append(f'{"," if index else "{"}"{fld.name}":')
            pieces.append(_json_values(column, fld.type))
        pieces.append("}")
        joined = pc.binary_join_element_wise(*pieces, "")
        return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined

    def encode(self, table: pa.Table | pa.RecordBatch) -> list[str]:
        """One JSON document per row (the envelope when enabled), in row order."""
        return self.encode_payloads(self.payloads(table))

    def encode_payloads(self, payloads: pa.Array) -> list[str]:
        """Wrap payloads from `payloads()` in the envelope (when enabled)."""
        texts = payloads.to_pylist()
        if not self.envelope:
            return texts
        prefix, suffix = self._prefix, self._suffix
        return [prefix + text + suffix for text in texts]

    @property
    def envelope_bytes(self) -> int:
        """UTF-8 bytes the envelope adds to every payload."""
        return len((self._prefix + self._suffix).encode())


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
    data = _value_bytes(column)
    if (data < 0x20).any():
        # Rare: let the json module escape control characters exactly.
        return pa.array([None if v is None else json.dumps(v) for v in column.to_pylist()], pa.string())
    if (data == ord("\\")).any():
        column = pc.replace_substring(column, "\\", "\\\\")
    if (data == ord('"')).any():
        column = pc.replace_substring(column, '"', '\\"')
    return pc.binary_join_element_wise('"', column, '"', "")


def _value_bytes(column: pa.Array) -> np.ndarray:
    """The UTF-8 bytes of all values (a view of the data buffer), to scan for characters to escape."""
    if len(column) == 0 or column.buffers()[2] is None:
        return np.zeros(0, dtype=np.uint8)
    offsets_buffer = column.buffers()[1]
    offsets = np.frombuffer(offsets_buffer, dtype=np.int32, count=len(column) + 1, offset=column.offset * 4)
    data = np.frombuffer(column.buffers()[2], dtype=np.uint8)
    return data[offsets[0] : offsets[-1]]
