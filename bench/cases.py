"""Cases benchmark: the case queue query at 1M alerts on the local engine (chDB in this process).

Alerts are generated inside the engine (INSERT … SELECT FROM numbers()) in batches, as they would
arrive, so the case rollup's materialized view runs on each batch; then the rollup is left to merge as
it would in the background (OPTIMIZE is not run: the queue must be fast on unmerged parts too). 1% of
the cases get an analyst action, so the status filter has cases to leave out. Each query of the queue
(the API's `CaseStore.queue`: default filters, a priority floor, rule-flagged only, one card) runs
--runs times; p50/p95/max (and the median CPU time of the process, where chDB runs) are reported
with the machine's load average. Goal: queue p95 ≤ 200 ms, reported for the whole history and for
the last 7 days (what an analyst's queue shows by default in the console).

    uv run python bench/cases.py                         # 1M alerts, 20k cards, 30 days
    uv run python bench/cases.py --alerts 200000 --runs 20

Writes bench/results/cases.json.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fraudlake.cases.store import CaseStore, QueueFilter
from fraudlake.clickhouse.client import connect
from fraudlake.clickhouse.migrations import SchemaParams, apply_schema, render_statements

RESULTS = Path(__file__).resolve().parent / "results"
DATABASE = "bench_cases"
START = datetime(2026, 3, 1, tzinfo=UTC)


def load_alerts(client: Any, alerts: int, cards: int, days: int, batch: int) -> float:
    """`alerts` alerts over `cards` cards and `days` days (a skewed few cards get most), in batches."""
    started = time.perf_counter()
    start_s = int(START.timestamp())
    for offset in range(0, alerts, batch):
        n = min(batch, alerts - offset)
        client.command(
            f"""
            INSERT INTO {DATABASE}.alerts
                (alert_id, txn_id, card_id, user_id, merchant_id, event_ts, source, score, severity,
                 status, message)
            SELECT concat('a', toString(number)), concat('t', toString(number)),
                   concat(toString(c), '-0'), toString(c), toString(cityHash64(number, 1) % 5000),
                   toDateTime64({start_s} + cityHash64(number, 2) % ({days} * 86400), 3, 'UTC'),
                   if(cityHash64(number, 3) % 4 = 0, 'rule:spend_burst', 'model'),
                   (cityHash64(number, 4) % 1000) / 1000, 'high', 'open', 'bench'
            FROM (SELECT number, toUInt64(pow(cityHash64(number, 5) % 1000000 / 1000000, 2) * {cards}) AS c
                  FROM numbers({offset}, {n}))"""
        )
    return time.perf_counter() - started


def act_on_some(store: CaseStore, share: float) -> int:
    """An escalation on `share` of the cases (the status join then has rows to match)."""
    ids = [r[0] for r in store.client.query(
        f"SELECT concat('case-', formatDateTime(window_start, '%Y%m%d', 'UTC'), '-', card_id) "
        f"FROM {DATABASE}.case_rollup GROUP BY card_id, window_start "
        f"HAVING cityHash64(card_id, window_start) % 1000 < {int(share * 1000)}"
    ).result_rows]  # fmt: skip
    at = datetime.now(UTC)
    rows = [(i, i.split("-", 2)[2], datetime.strptime(i.split("-")[1], "%Y%m%d"), "escalate", "escalated",
             "bench", "bench", at) for i in ids]  # fmt: skip
    store.client.insert(
        f"{DATABASE}.case_actions", rows,
        column_names=["case_id", "card_id", "window_start", "action", "status", "note", "actor", "at"],
    )  # fmt: skip
    return len(rows)


def timed(query: Callable[[], object], runs: int) -> dict[str, float]:
    """Wall time per run, and the process's CPU time per run: chDB runs in this process, so that is
    the engine's work, which the machine's load (other processes) changes far less than wall time."""
    query()  # warm: the first read of each part comes from disk
    took, cpu = [], []
    for _ in range(runs):
        started, cpu_started = time.perf_counter(), time.process_time()
        query()
        took.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
    took.sort()
    return {
        "p50_ms": round(statistics.median(took), 1),
        "p95_ms": round(took[max(0, int(0.95 * len(took)) - 1)], 1),
        "max_ms": round(took[-1], 1),
        "cpu_p50_ms": round(statistics.median(cpu), 1),
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--cards", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--batch", type=int, default=20_000, help="alerts per insert")
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-cases-") as data:
        client = connect(f"chdb://{data}")
        apply_schema(client, render_statements(SchemaParams(DATABASE)))
        load_seconds = load_alerts(client, args.alerts, args.cards, args.days, args.batch)
        store = CaseStore(client, DATABASE)
        acted = act_on_some(store, 0.01)
        rollup = f"{DATABASE}.case_rollup"
        ((cases, parts),) = client.query(
            f"SELECT (SELECT count() FROM (SELECT 1 FROM {rollup} GROUP BY card_id, window_start)),"
            f" (SELECT count() FROM system.parts WHERE database = '{DATABASE}' AND table = 'case_rollup'"
            f" AND active)"
        ).result_rows
        top_card = store.queue(QueueFilter(limit=1))[0].card_id
        load_before = os.getloadavg()
        last_week = START + timedelta(days=args.days - 7)
        queries = {
            "queue_default": QueueFilter(),
            "queue_last_7_days": QueueFilter(since=last_week),
            "queue_min_priority_60": QueueFilter(min_priority=60),
            "queue_rule_flagged": QueueFilter(source="rule"),
            "queue_one_card": QueueFilter(card_id=top_card),
        }
        timings = {name: timed(functools.partial(store.queue, q), args.runs) for name, q in queries.items()}
        detail = timed(
            lambda: store.case(store.queue(QueueFilter(limit=1))[0].case_id), max(5, args.runs // 5)
        )

    result = {
        "measured_at": datetime.now(UTC).isoformat(),
        "engine": "chdb (in process)",
        "alerts": args.alerts,
        "cards": args.cards,
        "days": args.days,
        "cases": int(cases),
        "rollup_active_parts": int(parts),
        "cases_with_an_action": acted,
        "load_seconds": round(load_seconds, 1),
        "queries": timings,
        "case_detail": detail,
        "goal": {
            "queue_p95_ms": 200,
            "met_every_day": timings["queue_default"]["p95_ms"] <= 200,
            "met_last_7_days": timings["queue_last_7_days"]["p95_ms"] <= 200,
        },
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cases.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
