"""Runs a backtest on a pipeline's ClickHouse database through a clickhouse-connect client.

`backtest` answers what a candidate rule set would have done over a time range: alerts, frauds caught,
false alarms, frauds missed and precision per rule and for the set, and, given the rules in force, the
same for them and what changes. `firings` gives the per-transaction verdicts the counts are made of.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from fraudlake.pipeline.spec import Rule
from fraudlake.rule_backtest import sql


@dataclass(frozen=True)
class Outcome:
    """What a rule (or a set: a transaction alerts once, whichever of its rules fire) would have done."""

    alerts: int
    frauds_caught: int
    false_alarms: int
    frauds_missed: int
    precision: float | None  # frauds caught / alerts; None without alerts
    recall: float | None  # frauds caught / frauds; None without frauds

    @classmethod
    def of(cls, alerts: int, caught: int, frauds: int) -> Outcome:
        return cls(
            alerts=alerts,
            frauds_caught=caught,
            false_alarms=alerts - caught,
            frauds_missed=frauds - caught,
            precision=caught / alerts if alerts else None,
            recall=caught / frauds if frauds else None,
        )


@dataclass(frozen=True)
class RuleOutcome:
    rule: Rule
    outcome: Outcome


@dataclass(frozen=True)
class SetOutcome:
    rules: list[RuleOutcome]  # the enabled rules, in the set's order
    total: Outcome


@dataclass(frozen=True)
class Change:
    """The candidate set against the rules in force, transaction by transaction."""

    alerts: int  # candidate alerts - current alerts
    frauds_caught: int
    false_alarms: int
    added_alerts: int  # alerted by the candidate only
    added_frauds_caught: int
    dropped_alerts: int  # alerted by the rules in force only
    dropped_frauds_caught: int


@dataclass(frozen=True)
class Backtest:
    start: datetime
    end: datetime
    transactions: int
    frauds: int
    analyst_labels: int  # transactions whose truth is an analyst's disposition
    chargeback_labels: int  # … a chargeback (no disposition)
    candidate: SetOutcome
    current: SetOutcome | None
    change: Change | None


@dataclass(frozen=True)
class Firing:
    """One transaction's verdicts: the enabled candidate rules that fire (then those in force)."""

    txn_id: str
    card_id: str
    event_ms: int
    fraud: bool
    label_source: str  # analyst, chargeback or '' (the transaction's is_fraud)
    candidate: tuple[str, ...]
    current: tuple[str, ...]


def backtest(
    client: Client,
    database: str,
    candidate: Sequence[Rule],
    start: datetime,
    end: datetime,
    current: Sequence[Rule] | None = None,
) -> Backtest:
    """The candidate set (and the rules in force, when given) over the transactions of [start, end)."""
    parameters = sql.query_parameters(start, end, (*candidate, *(current or ())))
    result = client.query(sql.summary_sql(database, candidate, current), parameters=parameters)
    row = dict(zip(result.column_names, result.result_rows[0], strict=True))
    frauds = int(row["frauds"])
    cand = _set_outcome(row, "c", sql.enabled(candidate), frauds)
    cur = _set_outcome(row, "k", sql.enabled(current), frauds) if current is not None else None
    change = None
    if cur is not None:
        change = Change(
            alerts=cand.total.alerts - cur.total.alerts,
            frauds_caught=cand.total.frauds_caught - cur.total.frauds_caught,
            false_alarms=cand.total.false_alarms - cur.total.false_alarms,
            added_alerts=int(row["added_alerts"]),
            added_frauds_caught=int(row["added_caught"]),
            dropped_alerts=int(row["dropped_alerts"]),
            dropped_frauds_caught=int(row["dropped_caught"]),
        )
    return Backtest(
        start=start,
        end=end,
        transactions=int(row["transactions"]),
        frauds=frauds,
        analyst_labels=int(row["analyst_labels"]),
        chargeback_labels=int(row["chargeback_labels"]),
        candidate=cand,
        current=cur,
        change=change,
    )


def firings(
    client: Client,
    database: str,
    candidate: Sequence[Rule],
    start: datetime,
    end: datetime,
    current: Sequence[Rule] = (),
) -> list[Firing]:
    """Every transaction of [start, end) with the rules that fire for it, in event-time order."""
    parameters = sql.query_parameters(start, end, (*candidate, *current))
    query = f"SELECT * FROM ({sql.firings_sql(database, candidate, current)}) ORDER BY event_ms, txn_id"
    result = client.query(query, parameters=parameters)
    cand, cur = sql.enabled(candidate), sql.enabled(current)
    out = []
    for values in result.result_rows:
        row = dict(zip(result.column_names, values, strict=True))
        out.append(
            Firing(
                txn_id=row["txn_id"],
                card_id=row["card_id"],
                event_ms=int(row["event_ms"]),
                fraud=bool(row["fraud"]),
                label_source=row["label_source"],
                candidate=tuple(rule.name for i, rule in enumerate(cand) if row[f"c{i}"]),
                current=tuple(rule.name for i, rule in enumerate(cur) if row[f"k{i}"]),
            )
        )
    return out


def _set_outcome(row: Mapping[str, Any], prefix: str, rules: Sequence[Rule], frauds: int) -> SetOutcome:
    return SetOutcome(
        rules=[
            RuleOutcome(
                rule, Outcome.of(int(row[f"{prefix}{i}_alerts"]), int(row[f"{prefix}{i}_caught"]), frauds)
            )
            for i, rule in enumerate(rules)
        ],
        total=Outcome.of(int(row[f"{prefix}_alerts"]), int(row[f"{prefix}_caught"]), frauds),
    )
