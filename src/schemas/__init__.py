"""One typed, versioned definition of the platform's records and every representation of them.

`records` holds the definitions (users, cards, transactions); `formats` renders Avro, JSON Schema,
pyarrow and Kafka Connect schemas; `export` writes the checked-in files under `generated/`;
`compat` decides whether a change breaks readers; `envelope` serializes rows to JSON.
"""

from fraudlake.schemas.fields import Field, FieldType, RecordSchema
from fraudlake.schemas.formats import to_arrow_schema, to_avro, to_connect_schema, to_json_schema
from fraudlake.schemas.records import ALL_RECORDS, CARDS, TRANSACTIONS, USERS

__all__ = [
    "ALL_RECORDS",
    "CARDS",
    "TRANSACTIONS",
    "USERS",
    "Field",
    "FieldType",
    "RecordSchema",
    "to_arrow_schema",
    "to_avro",
    "to_connect_schema",
    "to_json_schema",
]
