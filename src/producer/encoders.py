"""Message value formats the producer offers.

- `connect-json` (default): Kafka Connect JsonConverter envelope, schema in every message — what
  the S3 sink needs to write typed Parquet without a schema registry.
- `json`: the payload object only.
- `avro`: Confluent wire format (magic byte + schema id + Avro body) through a Confluent-compatible
  Schema Registry; the schema is registered under the topic's value subject on first use.
"""

from __future__ import annotations

import json
from typing import Protocol

import pyarrow as pa

from fraudlake.schemas.envelope import JsonEncoder
from fraudlake.schemas.fields import RecordSchema
from fraudlake.schemas.formats import to_avro

VALUE_FORMATS = ("connect-json", "json", "avro")


class ValueEncoder(Protocol):
    def encode(self, table: pa.Table) -> list[str] | list[bytes]: ...


class AvroRegistryEncoder:
    """Avro values in the Confluent wire format, schema ids from a Schema Registry."""

    def __init__(self, record: RecordSchema, topic: str, registry_url: str) -> None:
        from confluent_kafka.schema_registry import SchemaRegistryClient
        from confluent_kafka.schema_registry.avro import AvroSerializer
        from confluent_kafka.serialization import MessageField, SerializationContext

        # new_client understands mock:// URLs (confluent-kafka's in-memory registry, for tests).
        client = SchemaRegistryClient.new_client({"url": registry_url})
        self.registry = client
        self.record = record
        self._serialize = AvroSerializer(
            client, json.dumps(to_avro(record)), conf={"auto.register.schemas": True}
        )
        self._context = SerializationContext(topic, MessageField.VALUE)

    def encode(self, table: pa.Table) -> list[bytes]:
        rows = table.select(self.record.names).to_pylist()  # timestamps become datetimes, as Avro expects
        serialize, context = self._serialize, self._context
        return [serialize(row, context) for row in rows]


def make_encoder(
    value_format: str, record: RecordSchema, topic: str, schema_registry: str | None = None
) -> ValueEncoder:
    """The encoder for `value_format`; avro needs `schema_registry` (a URL)."""
    if value_format == "connect-json":
        return JsonEncoder(record, envelope=True)
    if value_format == "json":
        return JsonEncoder(record, envelope=False)
    if value_format == "avro":
        if not schema_registry:
            raise ValueError("--format avro needs --schema-registry URL")
        return AvroRegistryEncoder(record, topic, schema_registry)
    raise ValueError(f"value format must be one of {', '.join(VALUE_FORMATS)}")
