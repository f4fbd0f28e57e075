"""The demo's analyst loop (issue 26): alerts → scripted dispositions → retrain → shadow → promotion decision.

    the stream stage's alerts ─> case queue ─> demo-analyst ─> labels (source analyst)
    lake_to_clickhouse (the live transactions) ─> retrain (train_model's training entry point) ─> challenger
    further live transactions ─> scorer: the champion decides, the challenger scores in shadow ─> decisions
    lake_to_clickhouse (their transactions) ─> shadow gate: promoted, refused or shadowing

The analyst is a script that knows the truth: it confirms a case as fraud when one of the case's flagged
transactions is a fraud by the generator (the `is_fraud` each transaction carries), and marks it not fraud
otherwise. The retrain is `train_model`'s own training step (`fraudlake.ml.runtime.train_candidate`, same
settings as stage 6) over a window that ends after the last live transaction, so the analysts' labels are
in it; the version is uploaded without promotion and made the challenger, which the running scorer picks
up at its next registry poll.

The live transactions are dated by the generator's clock, which runs days ahead of the wall clock (a small
bank's 2,000 transactions span days), and their truth is known at once: the gate is run at the end of the
shadow period on that clock with no label delay, and with a minimum of frauds suited to a short shadow.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fraudlake.cases.logic import Action
from fraudlake.local.demo.stream_stage import (
    LiveTransactions,
    StreamScoring,
    _datetime64,
    _wait_for_decisions,
)
from fraudlake.local.roundtrip import harness
from fraudlake.local.roundtrip.harness import LocalLake
from fraudlake.model_monitoring.promotion import GatePolicy

ANALYST = "demo-analyst"
CASES = 10  # the top of the queue the analyst works
SHADOW_RATE = 200.0  # transactions per second of the shadow batch: twice the live rate, to keep it short
CHALLENGER_WAIT_SECONDS = 120.0  # for the scorer to load the challenger (polls every 5 s, then loads it)
SINK_WAIT_SECONDS = 120.0
# A demo's shadow period holds tens of frauds at most, so the gate's minimum is lowered from 20; no label
# delay: the generator's truth is known at once.
DEMO_GATE = GatePolicy(min_frauds=5, label_delay=timedelta(0))


def disposition(flagged: Iterable[str], truth: dict[str, bool]) -> Action | None:
    """What the scripted analyst decides for a case with `flagged` transactions, given the generator's
    `truth` (txn_id → is_fraud): confirm fraud when any is a fraud, not fraud when none is; None when the
    case has no flagged transaction or one whose truth is unknown (the script judges only what it knows)."""
    txns = list(flagged)
    if not txns or any(t not in truth for t in txns):
        return None
    return "confirm_fraud" if any(truth[t] for t in txns) else "not_fraud"


def run_analyst_loop(
    streaming: StreamScoring,
    lake: LocalLake,
    job: Any,  # fraudlake.ml.runtime.ModelJob
    scorer_log: Path,
    users: int,
    seed: int,
    fraud_rate: float,
    shadow_count: int,
) -> dict[str, Any]:
    """One turn of the loop on the running stack; what each step did, for the summary."""
    from fraudlake.clickhouse.client import connect

    clickhouse = connect(streaming.clickhouse_dsn)
    database = streaming.database
    registry = job.registry()
    timings: dict[str, float] = {}

    started = time.monotonic()
    load_from_lake(lake)  # the stream stage's live transactions, with their truth, into `transactions`
    analyst = work_the_queue(clickhouse, database, CASES)
    timings["dispositions"] = time.monotonic() - started

    started = time.monotonic()
    last_live = latest_event(clickhouse, database)
    retrain = train_challenger(job, registry, last_live, scorer_log)
    timings["retrain"] = time.monotonic() - started

    started = time.monotonic()
    first_day = last_live.date() + timedelta(days=1)  # the shadow period follows the retrain's window
    wait_for_challenger(scorer_log, retrain["log_offset"], retrain["version"], CHALLENGER_WAIT_SECONDS)
    live = LiveTransactions(
        streaming.bootstrap, streaming.transactions_topic, users, seed, fraud_rate,
        rate=SHADOW_RATE, count=shadow_count, first_day=first_day,
    )  # fmt: skip
    since = datetime.now(UTC)
    live.send()
    decided = _wait_for_decisions(clickhouse, database, live.labels, since)
    shadowed = shadowed_transactions(clickhouse, database, retrain["version"], set(live.labels), since)
    load_from_lake(lake)  # the shadow batch's transactions, with their truth, for the gate's labels
    timings["shadow"] = time.monotonic() - started

    started = time.monotonic()
    gate = settle(clickhouse, database, registry, retrain["version"])
    timings["gate"] = time.monotonic() - started
    return {
        "analyst": analyst,
        "retrain": {k: v for k, v in retrain.items() if k != "log_offset"},
        "challenger": retrain["version"],
        "shadow": {
            "transactions": len(live.labels),
            "decided": len(decided),
            "shadowed": shadowed,
            "frauds": sum(live.labels.values()),
            "first_day": first_day.isoformat(),
        },
        "gate": gate,
        "seconds": {k: round(v, 1) for k, v in timings.items()},
    }


def load_from_lake(lake: LocalLake) -> None:
    """What the sink has landed since stage 5 into ClickHouse: `lake_to_clickhouse` once more."""
    harness.wait_for_sink(lake, timeout=SINK_WAIT_SECONDS)
    a_day = harness.interval_around(datetime.now(UTC) - timedelta(days=1))
    harness.run_lake_dag(lake, a_day).raise_for_state()


def work_the_queue(clickhouse: Any, database: str, count: int) -> dict[str, Any]:
    """The analyst acts on the top `count` open cases whose truth is known; the labels this wrote."""
    from fraudlake.cases.queue import QueueFilter
    from fraudlake.cases.store import CaseStore

    store = CaseStore(clickhouse, database)
    before = store.label_counts().get("analyst", 0)
    acted: Counter[str] = Counter()
    for case in store.queue(QueueFilter(statuses=("open",), limit=3 * count)):
        if sum(acted.values()) >= count:
            break
        detail = store.case(case.case_id)
        flagged = {a["txn_id"] for a in detail.alerts} | {d["txn_id"] for d in detail.decisions}
        action = disposition(flagged, truth_of(clickhouse, database, flagged))
        if action is None:
            continue
        note = f"scripted: the generator's truth says {'fraud' if action == 'confirm_fraud' else 'no fraud'}"
        store.act(case.case_id, action, note, ANALYST, datetime.now(UTC))
        acted[action] += 1
    return {
        "actor": ANALYST,
        "cases": sum(acted.values()),
        "confirmed_fraud": acted["confirm_fraud"],
        "not_fraud": acted["not_fraud"],
        "labels": store.label_counts().get("analyst", 0) - before,
    }


def truth_of(clickhouse: Any, database: str, txn_ids: Iterable[str]) -> dict[str, bool]:
    """The generator's is_fraud of those of `txn_ids` ClickHouse's `transactions` holds."""
    rows = clickhouse.query(
        f"SELECT txn_id, is_fraud FROM {database}.transactions FINAL WHERE txn_id IN {{ids:Array(String)}}",
        parameters={"ids": sorted(txn_ids)},
    ).result_rows
    return {txn_id: bool(is_fraud) for txn_id, is_fraud in rows}


def latest_event(clickhouse: Any, database: str) -> datetime:
    (latest,) = clickhouse.query(f"SELECT max(event_ts) FROM {database}.transactions FINAL").result_rows[0]
    return latest if latest.tzinfo else latest.replace(tzinfo=UTC)


def train_challenger(job: Any, registry: Any, last_event: datetime, scorer_log: Path) -> dict[str, Any]:
    """Train as `train_model` does over a window ending just after `last_event`, upload the version
    without promoting it and make it the challenger. Its label counts by source, served model, test
    AUC-PR and training seconds; `log_offset`: the scorer log's size before the challenger was set."""
    from fraudlake.ml.runtime import train_candidate

    started = time.monotonic()
    candidate = train_candidate(job, last_event + timedelta(seconds=1), "memory")
    seconds = time.monotonic() - started
    champion = (registry.champion() or {}).get("version", "")
    log_offset = scorer_log.stat().st_size if scorer_log.exists() else 0
    registry.set_challenger(candidate["version"], f"demo: retrained with {ANALYST}'s labels")
    return {
        "version": candidate["version"],
        "champion": champion,
        "labels": candidate["labels"],
        "rows": candidate["rows"],
        "served_model": candidate["served_model"],
        "test_auc_pr": candidate["test_auc_pr"].get(candidate["served_model"]),
        "seconds": round(seconds, 1),
        "log_offset": log_offset,
    }


def wait_for_challenger(scorer_log: Path, offset: int, version: str, timeout: float) -> None:
    """Until the scorer's log (from `offset` on) says it loaded `version` (its challenger watcher)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with scorer_log.open("rb") as log:
            log.seek(offset)
            if any(b"model loaded" in line and version.encode() in line for line in log):
                return
        time.sleep(1)
    raise TimeoutError(
        f"the scorer did not load the challenger {version} within {timeout:.0f}s: {scorer_log}"
    )


def shadowed_transactions(
    clickhouse: Any, database: str, version: str, txn_ids: set[str], since: datetime
) -> int:
    """How many of `txn_ids` ClickHouse's decisions show scored in shadow by `version`."""
    rows = clickhouse.query(
        f"SELECT txn_id FROM {database}.decisions FINAL WHERE decided_at >= {_datetime64(since)} "
        "AND shadow_model_version = {version:String} AND shadow_score IS NOT NULL",
        parameters={"version": version},
    ).result_rows
    return sum(txn_id in txn_ids for (txn_id,) in rows)


def settle(clickhouse: Any, database: str, registry: Any, version: str) -> dict[str, Any]:
    """The shadow gate on the challenger, run at the end of its shadow period (the generator's clock)."""
    from fraudlake.model_monitoring.promotion import settle_challenge

    rows = clickhouse.query(
        f"SELECT max(event_ts) FROM {database}.decisions FINAL WHERE shadow_model_version = {{v:String}}",
        parameters={"v": version},
    ).result_rows
    end = rows[0][0] if rows else None
    # No shadowed decision (max() of none is the epoch): the gate finds no evidence either way.
    at = end if end is not None and end.year > 2000 else datetime.now(UTC)
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    verdict = settle_challenge(clickhouse, database, registry, at, DEMO_GATE)
    policy = asdict(DEMO_GATE) | {"label_delay": str(DEMO_GATE.label_delay)}
    return {"policy": policy, **verdict}
