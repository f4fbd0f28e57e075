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
    if result.loop:
        print_loop(console, result.loop)
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


def loop_lines(loop: dict[str, Any]) -> list[tuple[str, str]]:
    """The analyst loop as (what, value) rows: dispositions, retrain, shadow, the gate's decision."""
    analyst, retrain, shadow, gate = loop["analyst"], loop["retrain"], loop["shadow"], loop["gate"]
    labels = retrain["labels"]
    policy = gate.get("policy", {})
    rows = [
        (
            "analyst (scripted)",
            f"{analyst['actor']} worked the top {analyst['cases']} cases: "
            f"{analyst['confirmed_fraud']} confirmed fraud, {analyst['not_fraud']} not fraud "
            f"({analyst['labels']} labels; the script knows the generator's truth)",
        ),
        (
            "retrain (train_model's step)",
            f"{retrain['rows']:,} transactions, labels from analysts {labels.get('analyst', 0)}, "
            f"chargebacks {labels.get('chargeback', 0)}, own {labels.get('transaction', 0):,}; "
            f"{retrain['seconds']:.0f} s",
        ),
        ("challenger", f"{loop['challenger']} (uploaded unpromoted; champion {retrain['champion']})"),
        (
            "shadow",
            f"{shadow['transactions']:,} further live transactions from {shadow['first_day']}, "
            f"{shadow['shadowed']:,} scored in shadow (ClickHouse decisions), {shadow['frauds']} frauds",
        ),
    ]
    sides = [(name, gate.get(name)) for name in ("champion", "challenger")]
    auc = ", ".join(f"{name} {side['auc_pr']:.4f}" for name, side in sides if side)
    rows.append(
        (
            "shadow gate",
            f"{gate.get('transactions', 0):,} labelled transactions, {gate.get('frauds', 0)} frauds"
            + (f"; AUC-PR {auc}" if auc else "")
            + f" (demo policy: min {policy.get('min_frauds')} frauds, no label delay)",
        )
    )
    rows.append(("decision", f"{gate['action']}: {gate.get('reason', '')}"))
    return rows


def print_loop(console: Console, loop: dict[str, Any]) -> None:
    """One analyst loop: alerts → dispositions → retrain → shadow → the promotion decision."""
    table = Table("", "", title="Analyst loop (cases → labels → retrain → shadow → gate)", show_header=False)
    for what, value in loop_lines(loop):
        table.add_row(what, value)
    console.print(table)


SUMMARY_FILE = "demo-summary.json"


def write_summary(result: DemoResult, stack_dir: Path) -> Path:
    """The summary as JSON beside the stack's state, for scripts and the e2e test to read."""
    path = stack_dir / SUMMARY_FILE
    path.write_text(json.dumps(dataclasses.asdict(result), indent=2, default=str) + "\n")
    return path
