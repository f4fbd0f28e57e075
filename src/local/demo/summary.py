"""The demo's closing summary: rows per stage, model metrics vs baselines, where to click."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

DECISIONS = ("approve", "review", "decline")

if TYPE_CHECKING:
    from fraudlake.local.demo.runner import DemoOptions, DemoResult


def print_summary(console: Console, result: DemoResult, options: DemoOptions) -> None:
    rows = Table("stream", "produced", "in lake (Parquet)", "in ClickHouse", title="Rows per stage")
    for stream in ("users", "cards", "transactions"):
        topic = next((t for t in result.produced if t.endswith(f".{stream}")), stream)
        rows.add_row(
            stream,
            f"{result.produced.get(topic, 0):,}",
            f"{result.in_lake.get(topic, 0):,}",
            f"{result.in_clickhouse.get(stream, 0):,}",
        )
    console.print(rows)
    if result.metrics:
        metrics = Table(
            "model", "AUC-PR", "ROC-AUC", "recall@90%P", "recall@95%P", title="Model vs baselines"
        )
        for model, m in result.metrics.items():
            if not isinstance(m, dict):
                continue
            metrics.add_row(
                model,
                *(
                    f"{m.get(k, float('nan')):.3f}"
                    for k in ("auc_pr", "roc_auc", "recall_at_p90", "recall_at_p95")
                ),
            )
        console.print(metrics)
    if result.live_decisions:
        decided = ", ".join(f"{k} {v}" for k, v in sorted(result.live_decisions.items()))
        console.print(f"live transactions scored through the API: {decided}")
    if result.stream:
        print_stream(console, result.stream)
        if result.stream.get("card_block"):
            print_card_block(console, result.stream["card_block"], result.bank)
    if result.urls:
        for what, url in result.urls.items():
            console.print(f"{what}: {url}")
    timings = ", ".join(f"{k} {v:.0f}s" for k, v in result.durations.items())
    console.print(f"[dim]stages: {timings}[/]")


def print_stream(console: Console, stream: dict[str, Any]) -> None:
    """The stream scorer's live transactions, as ClickHouse has them (one line each: terminals are narrow)."""
    table = Table("", "", title="Stream scoring (decisions in ClickHouse)", show_header=False)
    decided = ", ".join(f"{d} {stream['decisions'].get(d, 0):,}" for d in DECISIONS)
    latency = stream["latency_ms"]
    table.add_row("live transactions", f"{stream['transactions']:,} (decided {stream['decided']:,})")
    table.add_row("decisions", decided)
    table.add_row(
        "frauds", f"{stream['frauds']}: caught {stream['frauds_caught']}, missed {stream['frauds_missed']}"
    )
    table.add_row("alerts", f"{stream['alerts']:,}")
    if latency["p50"] is not None:
        table.add_row("produce → decision", f"p50 {latency['p50']:.0f} ms, p99 {latency['p99']:.0f} ms")
    console.print(table)


def print_card_block(console: Console, block: dict[str, Any], bank: dict[str, int]) -> None:
    """The card the demo blocked in the bank's database, and what the scorer and ClickHouse made of it."""
    table = Table(
        "", "", title="Change data capture (PostgreSQL → Debezium → scorer, ClickHouse)", show_header=False
    )
    if bank:
        table.add_row(
            "bank database", f"{bank['users']:,} users, {bank['cards']:,} cards (Debezium snapshot)"
        )
    table.add_row("card blocked", f"{block['card_id']} at {block['blocked_at'].replace('+00:00', ' UTC')}")
    table.add_row(
        "its later live transactions",
        f"{block['later_transactions']}: declined by the card status rule {block['declined_card_status']}",
    )
    if block["first_decline_s"] is not None:
        table.add_row(
            "block commit → first decline",
            f"{block['first_decline_s']:.2f} s "
            f"(that transaction was sent +{block['first_declined_produced_s']:.2f} s)",
        )
    rows = block["clickhouse_rows"]
    table.add_row(
        "ClickHouse (FINAL)",
        f"bank_users {rows['bank_users']:,}, bank_cards {rows['bank_cards']:,}; "
        f"card {block['card_id']}: {block['clickhouse_status']}",
    )
    console.print(table)


SUMMARY_FILE = "demo-summary.json"


def write_summary(result: DemoResult, stack_dir: Path) -> Path:
    """The summary as JSON beside the stack's state, for scripts and the e2e test to read."""
    path = stack_dir / SUMMARY_FILE
    path.write_text(json.dumps(dataclasses.asdict(result), indent=2, default=str) + "\n")
    return path
