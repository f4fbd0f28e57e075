"""CDC benchmark at rate: a change committed in the bank's PostgreSQL → the stream scorer's card status, and
→ visible in ClickHouse, at --rate changes per second (goal: 1,000/s).

A throw-away local stack (Kafka, Kafka Connect with Debezium, PostgreSQL, the local ClickHouse) runs the
operator's Debezium connector config for one pipeline source. A writer thread commits card blocks at the
given rate for --seconds, each with its own reason (`b<n>`), so each change is known wherever it lands:

- scorer state: the scorer's own `CardStatusFeed` into a `CardStatusBook` (what `fraudlake scorer run
  --cdc-topics` runs), timed when the book applies the change;
- ClickHouse: the scorer's CDC loader (`ClickHouseLoader` with `change_targets`), timed when the change's
  row shows in `bank_cards_history` (inserted after `bank_cards`, so an upper bound for the current
  state; polled every 20 ms, which adds up to 20 ms).

Each latency runs from the COMMIT returning to the change seen. Reported: p50/p99/max of both, the rate
achieved, the load average.

    uv run python bench/cdc.py                         # 1,000 changes/s for 10 s
    uv run python bench/cdc.py --rate 200 --seconds 5

Writes bench/results/cdc.json (and a timestamped copy).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient, NewTopic

from fraudlake.api.feed import CardStatusFeed
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
from fraudlake.scoring.card_status import CardStatusBook
from fraudlake.stream.loader import ClickHouseLoader, change_targets, clickhouse_insert

RESULTS = Path(__file__).resolve().parent / "results"
CARDS = 200
DATABASE = "bench_cdc"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "changes_seen": len(values),
        "p50_ms": round(statistics.median(values) * 1000, 1),
        "p99_ms": round(percentile(values, 0.99) * 1000, 1),
        "max_ms": round(max(values) * 1000, 1),
    }


class TimedBook(CardStatusBook):
    """The scorer's book, noting when each bench change (reason `b<n>`) is applied."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[int, float] = {}

    def apply(self, payload: Mapping[str, Any] | None) -> bool:
        applied = super().apply(payload)
        reason = ((payload or {}).get("after") or {}).get("blocked_reason") or ""
        if applied and reason.startswith("b"):
            self.seen.setdefault(int(reason[1:]), time.time())
        return applied


def write_changes(dsn: str, rate: float, seconds: float, committed: dict[int, float]) -> None:
    """Block cards in turn at `rate` per second, each with reason b<n>; note each COMMIT's return."""
    with BankDatabase(dsn) as db:
        started = time.monotonic()
        for n in range(int(rate * seconds)):
            pause = started + n / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            db.block_card(f"c{n % CARDS}", reason=f"b{n}")
            committed[n] = time.time()


def watch_clickhouse(client: Any, stop: threading.Event, seen: dict[int, float]) -> None:
    """Poll bank_cards_history for new bench changes every 20 ms."""
    last_lsn = 0
    while not stop.is_set():
        rows = client.query(
            f"SELECT blocked_reason, lsn FROM {DATABASE}.bank_cards_history"
            " WHERE lsn > {lsn:UInt64} AND startsWith(blocked_reason, 'b')",
            parameters={"lsn": last_lsn},
        ).result_rows
        now = time.time()
        for reason, lsn in rows:
            seen.setdefault(int(reason[1:]), now)
            last_lsn = max(last_lsn, lsn)
        stop.wait(0.02)


def run(ctx: StackContext, rate: float, seconds: float) -> dict[str, Any]:
    records = manager.up(ctx, ["kafka", "connect", "postgres", "clickhouse"])
    bootstrap, rest = records["kafka"].endpoints["bootstrap"], records["connect"].endpoints["rest"]
    postgres = records["postgres"]
    spec = FraudPipelineSpec.parse(
        {
            "kafka": {"clusterRef": {"name": "kafka"}},
            "lake": {"connectClusterRef": {"name": "connect"}, "bucket": "lake"},
            "clickhouse": {"endpointSecret": {"name": "ch"}, "database": DATABASE},
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
    dsn = postgres.credentials["dsn"]
    with BankDatabase(dsn) as db:
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
    ch_dsn = records["clickhouse"].endpoints["dsn"]
    client = connect(ch_dsn)
    apply_schema(client, render_statements(SchemaParams(DATABASE, change_data_capture=True)))
    manifest = source_connector_manifest(
        pipeline, source, literal_settings({**postgres.endpoints, **postgres.credentials})
    )
    name = manifest["metadata"]["name"]
    put_connector(
        rest,
        name,
        {"connector.class": manifest["spec"]["class"], "tasks.max": "1", **manifest["spec"]["config"]},
    )
    cards_topic = table_topic(pipeline, source, "public.cards")
    book = TimedBook()
    feed = CardStatusFeed(bootstrap, [cards_topic], book)
    loader = ClickHouseLoader(
        bootstrap,
        f"bench-{uuid.uuid4().hex[:6]}",
        change_targets([cards_topic]),
        clickhouse_insert(ch_dsn, DATABASE),
        "cdc-loader",
        batch_wait_seconds=0.1,  # as the scorer runs it
    )
    committed: dict[int, float] = {}
    in_clickhouse: dict[int, float] = {}
    stop = threading.Event()
    watcher = threading.Thread(target=watch_clickhouse, args=(client, stop, in_clickhouse), daemon=True)
    expected = int(rate * seconds)
    try:
        feed.start()
        loader.start()
        deadline = time.monotonic() + 120
        while client.query(f"SELECT count() FROM {DATABASE}.bank_cards FINAL").result_rows != [(CARDS,)]:
            assert time.monotonic() < deadline, "the snapshot did not reach ClickHouse"
            time.sleep(0.2)
        watcher.start()
        began = time.monotonic()
        write_changes(dsn, rate, seconds, committed)
        wrote_for = time.monotonic() - began
        deadline = time.monotonic() + 60
        while (len(book.seen) < expected or len(in_clickhouse) < expected) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        feed.stop()
        loader.stop()
        delete_connector(rest, name)
    to_state = [book.seen[n] - committed[n] for n in committed if n in book.seen]
    to_clickhouse = [in_clickhouse[n] - committed[n] for n in committed if n in in_clickhouse]
    return {
        "target_rate_per_s": rate,
        "achieved_rate_per_s": round(expected / wrote_for, 1),
        "changes": expected,
        "commit_to_scorer_state": summary(to_state),
        "commit_to_clickhouse_visible": summary(to_clickhouse),
        "load_average": os.getloadavg(),
        "debezium": "3.6.1.Final, poll.interval.ms 100",
        "loader": "ClickHouseLoader(change_targets): ≤1000 messages / 0.1 s, insert + commit",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="Changes committed per second.")
    parser.add_argument("--seconds", type=float, default=10.0, help="How long changes are committed.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fraudlake-bench-cdc-") as stack_dir:
        ctx = StackContext(Path(stack_dir))
        try:
            result = run(ctx, args.rate, args.seconds)
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
