"""Test helpers for the lake: objects shaped like the Aiven sink's Parquet, and exactness checks.

`sink_parquet` writes what the connector writes with ``format.output.fields=value,offset,timestamp``
(checked against the real connector in test_lake.py): a ``value`` group holding the record, and
the record's Kafka ``offset`` and ``timestamp``.
"""

from __future__ import annotations

import io
import json
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fraudlake.clickhouse.client import connect
from fraudlake.clickhouse.migrations import SchemaParams, apply_schema, render_statements
from fraudlake.lake.store import LakeStore
from fraudlake.local.stack.service import ServiceRecord
from fraudlake.schemas import TRANSACTIONS, to_arrow_schema
from fraudlake.schemas.fields import RecordSchema


def new_name(kind: str) -> str:
    return f"lk{kind}{uuid.uuid4().hex[:8]}"


def synthetic_transactions(rows: int, seed: int = 7, fraud_every: int = 200) -> pa.Table:
    """Transactions with the platform schema: unique hex txn_ids, a fraud every `fraud_every` rows."""
    rng = np.random.default_rng(seed)
    start = datetime(2020, 3, 1, tzinfo=UTC)
    user = rng.integers(0, 2000, rows)
    card = rng.integers(0, 5, rows)
    ts = [start + timedelta(minutes=int(m)) for m in np.sort(rng.integers(0, 60 * 24 * 60, rows))]
    columns = {
        "txn_id": [uuid.UUID(int=int(rng.integers(0, 2**62)) << 64 | i).hex for i in range(rows)],
        "event_ts": ts,
        "user_id": [str(u) for u in user],
        "card_id": [f"{u}-{c}" for u, c in zip(user, card, strict=True)],
        "merchant_id": [str(m) for m in rng.integers(10**15, 10**16, rows)],
        "card_token": ["tok_" + "0" * 32] * rows,
        "user": user.astype(np.int32),
        "card": card.astype(np.int32),
        "year": [t.year for t in ts],
        "month": [t.month for t in ts],
        "day": [t.day for t in ts],
        "time": [t.strftime("%H:%M") for t in ts],
        "amount": np.round(rng.gamma(2.0, 30.0, rows), 2),
        "use_chip": ["Chip Transaction"] * rows,
        "merchant_name": rng.integers(-(2**62), 2**62, rows),
        "merchant_city": ["Springfield"] * rows,
        "merchant_state": ["CA"] * rows,
        "zip": [None if i % 3 == 0 else "91750" for i in range(rows)],
        "mcc": [5411] * rows,
        "errors": [None] * rows,
        "is_fraud": [i % fraud_every == 0 for i in range(rows)],
    }
    return pa.table(columns, schema=to_arrow_schema(TRANSACTIONS))


def sink_parquet(table: pa.Table, first_offset: int, record: RecordSchema = TRANSACTIONS) -> bytes:
    """Parquet bytes shaped like one sink object holding `table` at offsets first_offset…"""
    table = table.select(record.names).cast(to_arrow_schema(record))
    value = pa.StructArray.from_arrays(
        [table.column(name).combine_chunks() for name in record.names], fields=list(table.schema)
    )
    n = table.num_rows
    shaped = pa.table(
        {
            "value": value,
            "offset": pa.array(range(first_offset, first_offset + n), pa.int64()),
            "timestamp": pa.array([1_700_000_000_000 + first_offset + i for i in range(n)], pa.int64()),
        }
    )
    out = io.BytesIO()
    pq.write_table(shaped, out, compression="snappy")
    return out.getvalue()


# A Kafka topic id (URL-safe base64 of 16 bytes): the incarnation of hand-made objects' topic.
TOPIC_ID = "AAAAAAAAAAAAAAAAAAAAAQ"


def object_key(
    store: LakeStore, topic: str, partition: int, first_offset: int, topic_id: str = TOPIC_ID
) -> str:
    """The key the sink gives an object (`fraudlake.lake.connector.object_name_template`)."""
    return f"{store.prefix}/raw/{topic}/{topic_id}/{partition:010d}-{first_offset:020d}.parquet"


def put(store: LakeStore, key: str, body: bytes) -> None:
    store.client().put_object(Bucket=store.bucket, Key=key, Body=body)


def minio_store(minio: ServiceRecord, bucket: str, prefix: str) -> LakeStore:
    store = LakeStore(
        bucket=bucket,
        prefix=prefix,
        endpoint_url=minio.endpoints["url"],
        access_key=minio.credentials["access_key"],
        secret_key=minio.credentials["secret_key"],
    )
    client = store.client()
    if bucket not in {b["Name"] for b in client.list_buckets().get("Buckets", [])}:
        client.create_bucket(Bucket=bucket)
    return store


def create_database(dsn: str, database: str) -> None:
    apply_schema(connect(dsn), render_statements(SchemaParams(database)))


def rewind_sink(rest: str, connector: str, topic: str, partitions: int, offset: int = 0) -> None:
    """Make the sink re-deliver `topic` from `offset`, as a crash before its offset commit would.

    Kafka Connect's offsets API (KIP-875): stop the connector, reset its consumer offsets, resume.
    """

    def call(method: str, path: str, body: object = None) -> object:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - the local worker
            f"{rest}/connectors/{connector}{path}", data, {"Content-Type": "application/json"}, method=method
        )
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            payload = response.read()
        return json.loads(payload) if payload else None

    call("PUT", "/stop")
    deadline = time.monotonic() + 120
    while call("GET", "/status")["connector"]["state"] != "STOPPED":  # type: ignore[index]
        if time.monotonic() > deadline:
            raise TimeoutError(f"{connector} did not stop")
        time.sleep(0.5)
    positions = [
        {"partition": {"kafka_topic": topic, "kafka_partition": p}, "offset": {"kafka_offset": offset}}
        for p in range(partitions)
    ]
    call("PATCH", "/offsets", {"offsets": positions})
    call("PUT", "/resume")
