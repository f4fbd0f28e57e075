"""Cases in ClickHouse: the queue, one case with its context, actions (append-only) and labels.

Every value reaches the SQL as a bound parameter; the database name is an identifier checked by the
settings (and by the migrations) before it is spliced in.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from clickhouse_connect.driver.client import Client

from fraudlake.cases import queue as case_queue
from fraudlake.cases.logic import (
    Action,
    CaseKey,
    Status,
    case_id,
    label_for,
    next_status,
    parse_case_id,
    priority_sql,
)
from fraudlake.cases.queue import QueueFilter

RECENT_TRANSACTIONS = 50
LINKED_CASES = 20
LINKED_WITHIN = timedelta(days=7)


@dataclass(frozen=True)
class CaseSummary:
    case_id: str
    card_id: str
    window_start: datetime
    status: Status
    priority: int
    alerts: int
    max_score: float
    max_amount: float
    first_at: datetime
    last_at: datetime
    sources: list[str]


@dataclass(frozen=True)
class CaseAction:
    case_id: str
    action: Action
    status: Status
    note: str
    actor: str
    at: datetime


@dataclass(frozen=True)
class CaseDetail:
    summary: CaseSummary
    merchants: list[str]
    alerts: list[dict[str, Any]]
    transactions: list[dict[str, Any]]
    decisions: list[dict[str, Any]]
    linked: list[CaseSummary]
    actions: list[CaseAction] = field(default_factory=list)


class CaseNotFoundError(LookupError):
    pass


def _summaries_sql(database: str, where_rollup: str = "1") -> str:
    """Cases as rows of the queue's shape. `where_rollup` filters the rollup before merging (cheap)."""
    return f"""
        SELECT concat('case-', formatDateTime(window_start, '%Y%m%d', 'UTC'), '-', card_id) AS case_id,
               card_id, window_start, uniqExactMerge(alert_txns) AS alerts, max(max_score) AS score,
               max(max_amount) AS amount, min(first_at) AS first, max(last_at) AS last,
               groupUniqArrayArray(sources) AS srcs, groupUniqArrayArray(merchants) AS merchant_ids,
               {priority_sql("score", "amount")} AS priority
        FROM {database}.case_rollup
        WHERE {where_rollup}
        GROUP BY card_id, window_start"""


def _with_status_sql(database: str, cases_sql: str) -> str:
    return f"""
        SELECT c.case_id, c.card_id, c.window_start, if(s.status = '', 'open', s.status) AS status,
               c.priority, c.alerts, c.score, c.amount, c.first, c.last, c.srcs, c.merchant_ids
        FROM ({cases_sql}) AS c
        LEFT JOIN (SELECT case_id, argMax(status, at) AS status FROM {database}.case_actions
                   GROUP BY case_id) AS s ON s.case_id = c.case_id"""


def _summary(row: Sequence[Any]) -> CaseSummary:
    return CaseSummary(
        case_id=row[0],
        card_id=row[1],
        window_start=_utc(row[2]),
        status=row[3],
        priority=int(row[4]),
        alerts=int(row[5]),
        max_score=float(row[6]),
        max_amount=float(row[7]),
        first_at=_utc(row[8]),
        last_at=_utc(row[9]),
        sources=sorted(row[10]),
    )


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class CaseStore:
    """One pipeline database's cases, through a clickhouse-connect client."""

    def __init__(self, client: Client, database: str):
        self.client, self.database = client, database

    def queue(self, wanted: QueueFilter) -> list[CaseSummary]:
        """Cases in `wanted.statuses` at or above `min_priority`, highest priority (then latest) first.

        Open cases are nearly all of them: their queue merges only the cases that can rank (the
        threshold algorithm of fraudlake.cases.queue), and ranks every case of the days asked for
        only when that cannot be proven. Other statuses are the few cases acted on, ranked directly."""
        db = self.database
        parameters = {
            "since": _naive(wanted.since) if wanted.since else datetime(1970, 1, 1),
            "statuses": list(wanted.statuses),
            "min_priority": wanted.min_priority,
            "source": wanted.source or "",
            "card": wanted.card_id or "",
            "limit": wanted.limit,
        }
        if "open" in wanted.statuses and not wanted.card_id:  # else a few cases: merged directly
            bounded = self._bounded_queue(wanted, parameters)
            if bounded is not None:
                return bounded
        sql = case_queue.queue_sql(db, wanted, None)
        return [_summary(r) for r in self.client.query(sql, parameters=parameters).result_rows]

    def _bounded_queue(self, wanted: QueueFilter, parameters: dict[str, Any]) -> list[CaseSummary] | None:
        """The queue from its candidate cases only; None when it cannot be proven so (too few rows
        to estimate from, too many candidates to be worth it, or an answer that does not hold)."""
        db = self.database
        estimate_parameters = parameters | {"estimate_rows": wanted.limit * case_queue.ESTIMATE_ROWS_PER_CASE}
        found = None
        for recent in (True, False):
            sql = case_queue.estimate_sql(db, wanted, recent=recent)
            rows = self.client.query(sql, parameters=estimate_parameters).result_rows
            found = case_queue.estimate(rows, wanted.limit)
            if found is not None:
                break
        if found is None:
            return None
        options = case_queue.bounds(found)
        ((total, below, at_most, after),) = self.client.query(
            case_queue.count_sql(db, wanted), parameters=parameters | case_queue.count_parameters(options)
        ).result_rows
        # Rows after λ lie together on the latest day (the same few granules), the others are spread
        # over every day asked for: weigh them at half.
        sizes = [below, at_most + after / 2]
        best = min(range(len(options)), key=sizes.__getitem__)
        if sizes[best] > case_queue.MAX_CANDIDATE_SHARE * total:
            return None
        bound = options[best]
        sql = case_queue.queue_sql(db, wanted, bound)
        rows = self.client.query(sql, parameters=parameters | case_queue.bound_parameters(bound)).result_rows
        return [_summary(r) for r in rows] if case_queue.proven(rows, wanted, bound) else None

    def summary(self, key: CaseKey) -> tuple[CaseSummary, list[str]]:
        """The case and its merchants; CaseNotFoundError when no flagged transaction opened it."""
        db = self.database
        where = "card_id = {card:String} AND window_start = {start:DateTime('UTC')}"
        rows = self.client.query(
            _with_status_sql(db, _summaries_sql(db, where)),
            parameters={"card": key.card_id, "start": key.window_start.replace(tzinfo=None)},
        ).result_rows
        if not rows:
            raise CaseNotFoundError(f"no case {case_id(key.card_id, key.window_start)}")
        return _summary(rows[0]), sorted(rows[0][11])

    def case(self, id_: str) -> CaseDetail:
        """The case with the card's recent transactions, its alerts and decisions (reasons, rules),
        the cases linked to it (the same card on other days, or a shared merchant) and its actions."""
        key = parse_case_id(id_)
        summary, merchants = self.summary(key)
        window = {"card": key.card_id, "start": _naive(key.window_start), "end": _naive(key.window_end)}
        db = self.database
        alerts = self._dicts(
            f"""SELECT alert_id, txn_id, merchant_id, event_ts, source, score, severity, message
                FROM {db}.alerts FINAL
                WHERE card_id = {{card:String}} AND event_ts >= {{start:DateTime64(3, 'UTC')}}
                  AND event_ts < {{end:DateTime64(3, 'UTC')}}
                ORDER BY event_ts""",
            window,
        )
        decisions = self._dicts(
            f"""SELECT txn_id, merchant_id, event_ts, amount, score, decision, reasons, rules_fired
                FROM {db}.decisions FINAL
                WHERE card_id = {{card:String}} AND event_ts >= {{start:DateTime64(3, 'UTC')}}
                  AND event_ts < {{end:DateTime64(3, 'UTC')}}
                  AND (decision != 'approve' OR rules_fired NOT IN ('', '[]'))
                ORDER BY event_ts""",
            window,
        )
        for d in decisions:
            d["reasons"], d["rules_fired"] = _json_list(d["reasons"]), _json_list(d["rules_fired"])
        transactions = self._dicts(
            f"""SELECT txn_id, event_ts, merchant_id, amount, mcc, use_chip, merchant_city
                FROM {db}.transactions
                WHERE card_id = {{card:String}} AND event_ts < {{end:DateTime64(3, 'UTC')}}
                ORDER BY event_ts DESC LIMIT {RECENT_TRANSACTIONS}""",
            window,
        )
        return CaseDetail(
            summary, merchants, alerts, transactions, decisions, self.linked(summary, merchants),
            self.actions(id_),
        )  # fmt: skip

    def linked(self, case: CaseSummary, merchants: list[str]) -> list[CaseSummary]:
        """Other cases of the same card, or sharing one of the case's merchants, within LINKED_WITHIN
        of the case's day (further apart, a shared merchant says little; and the read stays short)."""
        db = self.database
        near = "window_start BETWEEN {lo:DateTime('UTC')} AND {hi:DateTime('UTC')}"
        sql = f"""
            SELECT * FROM ({_with_status_sql(db, _summaries_sql(db, near))})
            WHERE case_id != {{id:String}}
              AND (card_id = {{card:String}} OR hasAny(merchant_ids, {{merchants:Array(String)}}))
            ORDER BY priority DESC, last DESC LIMIT {LINKED_CASES}"""
        parameters = {
            "id": case.case_id, "card": case.card_id, "merchants": merchants,
            "lo": _naive(case.window_start - LINKED_WITHIN), "hi": _naive(case.window_start + LINKED_WITHIN),
        }  # fmt: skip
        rows = self.client.query(sql, parameters=parameters).result_rows
        return [_summary(r) for r in rows]

    def actions(self, id_: str) -> list[CaseAction]:
        rows = self.client.query(
            f"""SELECT case_id, action, status, note, actor, at FROM {self.database}.case_actions
                WHERE case_id = {{id:String}} ORDER BY at""",
            parameters={"id": id_},
        ).result_rows
        return [CaseAction(r[0], r[1], r[2], r[3], r[4], _utc(r[5])) for r in rows]

    def act(self, id_: str, action: Action, note: str, actor: str, at: datetime) -> CaseAction:
        """Record `action` (TransitionError when the case's status forbids it) and, for a disposition,
        label each of the case's flagged transactions (source analyst, known at `at`).

        Check and append are two statements: two analysts acting on one case at the same instant could
        both pass the check; the audit keeps both actions and the latest one sets the status."""
        key = parse_case_id(id_)
        summary, _ = self.summary(key)
        status = next_status(summary.status, action)
        done = CaseAction(id_, action, status, note, actor, at)
        label = label_for(action)
        if label is not None:
            txns = self.client.query(
                f"""SELECT DISTINCT txn_id FROM (
                        SELECT txn_id, event_ts FROM {self.database}.alerts WHERE card_id = {{card:String}}
                        UNION ALL
                        SELECT txn_id, event_ts FROM {self.database}.decisions
                        WHERE card_id = {{card:String}}
                          AND (decision != 'approve' OR rules_fired NOT IN ('', '[]')))
                    WHERE event_ts >= {{start:DateTime64(3, 'UTC')}}
                      AND event_ts < {{end:DateTime64(3, 'UTC')}}
                    ORDER BY txn_id""",
                parameters={"card": key.card_id, "start": _naive(key.window_start),
                            "end": _naive(key.window_end)},
            ).result_rows  # fmt: skip
            rows = [(t, key.card_id, label, "analyst", id_, actor, at) for (t,) in txns]
            if rows:
                self.client.insert(
                    f"{self.database}.labels",
                    rows,
                    column_names=["txn_id", "card_id", "label", "source", "case_id", "actor", "known_at"],
                )
        self.client.insert(
            f"{self.database}.case_actions",
            [(id_, key.card_id, key.window_start, action, status, note, actor, at)],
            column_names=["case_id", "card_id", "window_start", "action", "status", "note", "actor", "at"],
        )
        return done

    def label_counts(self) -> dict[str, int]:
        """How many transactions are labelled per source (analyst, chargeback)."""
        rows = self.client.query(
            f"SELECT source, uniqExact(txn_id) FROM {self.database}.labels GROUP BY source"
        ).result_rows
        return {source: int(n) for source, n in rows}

    def _dicts(self, sql: str, parameters: dict[str, Any]) -> list[dict[str, Any]]:
        result = self.client.query(sql, parameters=parameters)
        return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]


def _naive(at: datetime) -> datetime:
    """UTC as a naive datetime: clickhouse-connect renders it as is (an aware one would be shifted)."""
    return at.astimezone(UTC).replace(tzinfo=None)


def _json_list(raw: str) -> list[Any]:
    try:
        value = json.loads(raw or "[]")
    except ValueError:
        return []
    return value if isinstance(value, list) else []
