"""CDC benchmark: a change committed in the bank's PostgreSQL → visible in ClickHouse (bank_cards FINAL).

A throw-away local stack (Kafka, Kafka Connect with Debezium, PostgreSQL, chDB) runs the operator's
Debezium connector config for one pipeline source; after the snapshot, --changes credit-limit changes are
committed one at a time. A consumer loop (what a streaming loader does: poll, `insert_changes`, commit)
lands them in ClickHouse, and the latency of each change is measured from its COMMIT returning to its
new limit showing in ``SELECT … FROM bank_cards FINAL``, with the Kafka arrival in between. Reported:
p50/p99/max of both.

    uv run python bench/cdc.py                     # 50 changes
    uv run python bench/cdc.py --changes 200

Writes bench/results/cdc.json (and a timestamped copy).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewTopic

from fraudlake.clickhouse.cdc_ingest import decode, insert_changes
from fraudlake.clickhouse.client import connect
from fraudlake.clickhouse.migrations import SchemaParams, apply_schema, render_statements
from fraudlake.local.stack import manager
from fraudlake.local.stack.service import StackContext
from fraudlake.local.stack.services.connect import delete_connector, put_connector
from fraudlake.operator.builders import Pipeline
from fraudlake.operator.sources import (
    literal_settings,
    source_connector_manifest,
    source_topic_manifests,
    table_topic,
)
from fraudlake.pipeline.spec import FraudPipelineSpec
from fraudlake.producer.bank_db import CAPTURED_TABLES, BankCard, BankDatabase, BankUser

RESULTS = Path(__file__).resolve().parent / "results"
CARDS = 20


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(values) * 1000, 1),
        "p99_ms": round(percentile(values, 0.99) * 1000, 1),
        "max_ms": round(max(values) * 1000, 1),
    }


def run(ctx: StackContext, changes: int) -> dict[str, Any]:
    records = manager.up(ctx, ["kafka", "connect", "postgres", "clickhouse"])
    bootstrap, rest = records["kafka"].endpoints["bootstrap"], records["connect"].endpoints["rest"]
    postgres = records["postgres"]
    spec = FraudPipelineSpec.parse(
        {
            "kafka": {"clusterRef": {"name": "kafka"}},
            "lake": {"connectClusterRef": {"name": "connect"}, "bucket": "lake"},
            "clickhouse": {"endpointSecret": {"name": "ch"}, "database": "bench_cdc"},
            "sources": [
                {
                    "name": "bank",
                    "databaseSecret": {"name": "bank-db"},
                    "tables": list(CAPTURED_TABLES),
                    "topic": {"partitions": 1, "replicas": 1},
                }
            ],
        }
    )
    pipeline = Pipeline("bench", f"cdc{uuid.uuid4().hex[:6]}", 1, spec)
    (source,) = spec.sources
    with BankDatabase(postgres.credentials["dsn"]) as db:
        db.create_schema()
        db.load_reference(
            [BankUser(f"u{i}", f"P {i}", "1 Elm St", "Chicago", "IL", "60601") for i in range(CARDS)],
            [BankCard(f"c{i}", f"u{i}", "Visa", "Credit", 1000.0) for i in range(CARDS)],
        )
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = [
        NewTopic(m["spec"]["topicName"], 1, 1, config={k: str(v) for k, v in m["spec"]["config"].items()})
        for m in source_topic_manifests(pipeline)
    ]
    for future in admin.create_topics(topics).values():
        future.result(timeout=30)
    client = connect(records["clickhouse"].endpoints["dsn"])
    database = "bench_cdc"
    apply_schema(client, render_statements(SchemaParams(database, change_data_capture=True)))
    settings = {**postgres.endpoints, **postgres.credentials}
    manifest = source_connector_manifest(pipeline, source, literal_settings(settings))
    name = manifest["metadata"]["name"]
    put_connector(
        rest,
        name,
        {"connector.class": manifest["spec"]["class"], "tasks.max": "1", **manifest["spec"]["config"]},
    )
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([table_topic(pipeline, source, "public.cards")])

    def load_once() -> list[dict[str, Any] | None]:
        """One loader step: poll a batch, insert it, commit its offsets."""
        messages = [m for m in consumer.consume(500, timeout=0.05) if not m.error()]
        payloads = [decode(m.value()) for m in messages]
        insert_changes(client, database, "cards", payloads)
        if messages:
            consumer.commit(message=messages[-1], asynchronous=False)
        return payloads

    loaded = 0
    while loaded < CARDS:  # the snapshot
        loaded += len([p for p in load_once() if p])
    current_limit = f"SELECT credit_limit FROM {database}.bank_cards FINAL WHERE card_id = {{c:String}}"
    to_kafka, to_clickhouse = [], []
    try:
        with BankDatabase(postgres.credentials["dsn"]) as db:
            for i in range(changes):
                card, limit = f"c{i % CARDS}", 2000.0 + i
                committed = time.monotonic()
                db.change_limit(card, limit)
                arrived = None
                while True:
                    payloads = load_once()
                    if arrived is None and any(p and p["after"]["credit_limit"] == limit for p in payloads):
                        arrived = time.monotonic()
                    if arrived is not None:
                        visible = client.query(current_limit, parameters={"c": card}).result_rows
                        if visible == [(limit,)]:
                            to_clickhouse.append(time.monotonic() - committed)
                            to_kafka.append(arrived - committed)
                            break
                    if time.monotonic() - committed > 60:
                        raise TimeoutError(f"change {i} did not reach ClickHouse within 60 s")
    finally:
        consumer.close()
        delete_connector(rest, name)
    return {
        "changes": changes,
        "commit_to_kafka": summary(to_kafka),
        "commit_to_clickhouse_visible": summary(to_clickhouse),
        "debezium": "3.6.1.Final",
        "loader": "poll ≤500 records / 50 ms, insert_changes, commit (one process)",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fraudlake-bench-cdc-") as stack_dir:
        ctx = StackContext(Path(stack_dir))
        try:
            result = run(ctx, args.changes)
        finally:
            manager.down(ctx)
    result["at"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    RESULTS.mkdir(exist_ok=True)
    text = json.dumps(result, indent=2) + "\n"
    (RESULTS / "cdc.json").write_text(text)
    (RESULTS / f"cdc-{result['at'].replace(':', '').replace('-', '')}.json").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
