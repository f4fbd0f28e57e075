"""The case queue's SQL: the top cases by (priority, latest alert) without merging every case.

A case's rollup rows are merged at read time, and merging all of them (434k cases at 1M alerts) costs
far more than the queue may. But the priority only grows with a case's highest score and largest
amount, and its latest alert only moves later: the queue is the top `limit` of a monotone function
of three per-case maxima, which the threshold algorithm (Fagin's) finds from a few rows:

1. *estimate*: the rows ranked by their own priority (a lower bound of their case's) and time give a
   rank (priority, last) that at least `limit` qualifying cases reach; the latest two days usually do;
2. *candidates*: a case none of whose rows has a score above σ, an amount above α or an alert after λ
   ranks at most (priority(σ, α), λ). α is the largest amount known; σ keeps that rank below the
   estimate, either by a priority below it (any λ) or by one at most equal with λ just before its
   time (the priority is a whole number: ties are common). One scan counts the rows of both;
3. *exact*: only the candidate cases are merged, filtered and ranked, and the answer stands when its
   last case ranks strictly above every other case's bound (checked, not assumed). Otherwise, and
   for one card's cases or closed ones (few), every case of the days asked for is ranked.

Everything here is pure (SQL text and arithmetic); fraudlake.cases.store runs it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fraudlake.cases.logic import (
    AMOUNT_SATURATION_LOG10,
    AMOUNT_WEIGHT,
    SCORE_WEIGHT,
    Status,
    priority_sql,
)

# Rows read for the estimate, per case asked for: a case has a row or two per insert that touched it.
ESTIMATE_ROWS_PER_CASE = 8
# Past this share of the rows, merging the candidates costs about what ranking every case costs.
MAX_CANDIDATE_SHARE = 0.3
_EPSILON = 1e-6


@dataclass(frozen=True)
class QueueFilter:
    statuses: Sequence[Status] = ("open", "escalated")
    min_priority: int = 0
    source: str | None = None  # "model", or "rule" (any rule), or "rule:<name>"
    card_id: str | None = None
    since: datetime | None = None  # cases of this UTC day and later; None: every day
    limit: int = 50


@dataclass(frozen=True)
class Bound:
    """Rows with a score above `score`, an amount above `amount` or an alert after `last` (None: any
    time) make their case a candidate; any other case ranks at most (priority(score, amount), last)."""

    score: float
    amount: float
    last: datetime | None


def _source_sql(sources: str) -> str:
    return f"""(has({sources}, {{source:String}})
                OR ({{source:String}} = 'rule' AND arrayExists(x -> startsWith(x, 'rule:'), {sources})))"""


def days_sql(wanted: QueueFilter) -> str:
    """The rollup rows of the days (and card) `wanted` covers; the days are the rollup's key prefix."""
    card = " AND card_id = {card:String}" if wanted.card_id else ""
    return f"window_start >= {{since:DateTime('UTC')}}{card}"


def status_sql(database: str, wanted: QueueFilter) -> str:
    """Whether a case (its window_start, card_id) has a status `wanted` asks for: its latest action's
    (none: open). Cases acted on are few, so the set this reads (the cases to leave out, or, when open
    ones are not asked for, the ones to keep) is small; it is applied to merged cases, not to rows."""
    keep = "open" in wanted.statuses
    return f"""(window_start, card_id) {"NOT IN" if keep else "IN"} (
                SELECT window_start, card_id FROM {database}.case_actions
                WHERE window_start >= {{since:DateTime('UTC')}}
                GROUP BY window_start, card_id
                HAVING argMax(status, at) {"NOT IN" if keep else "IN"} {{statuses:Array(String)}})"""


def _latest_days_sql(database: str, wanted: QueueFilter) -> str:
    """The start of the day before the latest day with a case (read backwards along the key)."""
    return f"""((SELECT window_start FROM {database}.case_rollup WHERE {days_sql(wanted)}
                  ORDER BY window_start DESC LIMIT 1) - INTERVAL 1 DAY)"""


def _acted_only_sql(database: str, wanted: QueueFilter) -> str:
    """When open cases are not asked for, only the few acted on are read (through the rollup's key)."""
    return "" if "open" in wanted.statuses else f" AND {status_sql(database, wanted)}"


def estimate_sql(database: str, wanted: QueueFilter, *, recent: bool) -> str:
    """Rows by their own priority (a lower bound of their case's) and latest alert, best first, of
    cases `wanted` may show (the status is checked on the few rows read, not on every row), each
    with the largest amount of the days. Any cases give a valid estimate; `recent` reads only the
    latest two days (the rollup's key prefix), where ties on the priority are broken anyway."""
    floor = " AND row_priority >= {min_priority:UInt8}" if wanted.min_priority else ""
    source = f" AND {_source_sql('sources')}" if wanted.source else ""
    days = f" AND window_start >= {_latest_days_sql(database, wanted)}" if recent else ""
    return f"""
        SELECT window_start, card_id, row_priority, last_at,
               (SELECT max(max_amount) FROM {database}.case_rollup WHERE {days_sql(wanted)})
        FROM (
            SELECT window_start, card_id, {priority_sql("max_score", "max_amount")} AS row_priority, last_at
            FROM {database}.case_rollup
            WHERE {days_sql(wanted)}{days}{floor}{source}
            ORDER BY row_priority DESC, last_at DESC
            LIMIT {{estimate_rows:UInt32}})
        WHERE {status_sql(database, wanted)}
        ORDER BY row_priority DESC, last_at DESC"""


@dataclass(frozen=True)
class Estimate:
    """At least `limit` qualifying cases rank at or above (priority, last); no row's amount exceeds
    `amount`."""

    priority: int
    last: datetime
    amount: float


def estimate(rows: Sequence[Sequence[Any]], limit: int) -> Estimate | None:
    """The estimate from `estimate_sql`'s rows; None when they name fewer than `limit` cases. A case's
    first row is its best (rows come best first), its rank a lower bound of the case's."""
    seen: set[tuple[Any, Any]] = set()
    for start, card, row_priority, last, amount in rows:
        seen.add((start, card))
        if len(seen) == limit:
            return Estimate(int(row_priority), naive_utc(last), float(amount))
    return None


def score_ceiling(priority: int, amount: float) -> float:
    """The highest score that keeps priority(score, a) ≤ `priority` for every amount a ≤ `amount`:
    100·(w_s·score + w_a·amount term) must stay below priority + ½ (fraudlake.cases.logic.priority)."""
    share = min(math.log10(1 + max(amount, 0.0)) / AMOUNT_SATURATION_LOG10, 1.0)
    return (priority + 0.5 - 100 * AMOUNT_WEIGHT * share) / (100 * SCORE_WEIGHT) - _EPSILON


def bounds(found: Estimate) -> tuple[Bound, Bound]:
    """The two (σ, α, λ) that keep every non-candidate below the estimate: its priority below the
    estimate's whenever it was last flagged, or at most the estimate's with no alert at or after its
    `last` (ties on the priority are common: it is a whole number). α is the largest amount known, so
    only amounts flagged since are candidates for it."""
    return (
        Bound(score_ceiling(found.priority - 1, found.amount), found.amount, None),
        Bound(score_ceiling(found.priority, found.amount), found.amount, _just_before(found.last)),
    )


def _just_before(at: datetime) -> datetime:
    # The rollup's times are milliseconds: one millisecond earlier keeps `last` itself a candidate.
    return naive_utc(at) - timedelta(milliseconds=1)


def _after_sql(last: str) -> str:
    # An alert after λ falls on λ's day or the next: the rollup's key finds those rows.
    return f"(window_start > {last} - INTERVAL 1 DAY AND last_at > {last})"


def bound_parameters(bound: Bound) -> dict[str, Any]:
    """The query parameters of `bound` (only those its SQL names)."""
    parameters: dict[str, Any] = {"score": bound.score, "amount": bound.amount}
    if bound.last is not None:
        parameters["last"] = bound.last
    return parameters


def count_sql(database: str, wanted: QueueFilter) -> str:
    """How many rows the days hold and how many each of `bounds`' two makes candidates (their score
    and amount in one scan of two numeric columns; the rows after λ read through the key)."""
    scores = "max_score > {score_0:Float32} OR max_amount > {amount:Float64}"
    return f"""
        SELECT count(), countIf({scores}),
               countIf(max_score > {{score_1:Float32}} OR max_amount > {{amount:Float64}}),
               (SELECT count() FROM {database}.case_rollup
                WHERE {days_sql(wanted)} AND {_after_sql("{last:DateTime64(3, 'UTC')}")})
        FROM {database}.case_rollup WHERE {days_sql(wanted)}"""


def count_parameters(options: tuple[Bound, Bound]) -> dict[str, Any]:
    return {"score_0": options[0].score, "score_1": options[1].score, "amount": options[0].amount,
            "last": options[1].last}  # fmt: skip


def candidate_keys_sql(database: str, wanted: QueueFilter, bound: Bound) -> str:
    """The cases with a row above σ or α (two numeric columns scanned) or after λ (through the key)."""
    keys = f"""
        SELECT window_start, card_id FROM {database}.case_rollup
        WHERE {days_sql(wanted)} AND (max_score > {{score:Float32}} OR max_amount > {{amount:Float64}})"""
    if bound.last is not None:
        keys += f"""
        UNION ALL
        SELECT window_start, card_id FROM {database}.case_rollup
        WHERE {days_sql(wanted)} AND {_after_sql("{last:DateTime64(3, 'UTC')}")}"""
    return keys


def ranked_keys_sql(database: str, wanted: QueueFilter) -> str:
    """Every case of the days (and status) asked for ranked on its cheap columns (the maxima for the
    priority; the sources only when filtered on): the `limit` best keys. The exact fallback, as
    costly as there are cases."""
    sources = ", groupUniqArrayArray(sources) AS srcs" if wanted.source else ""
    source = f" AND {_source_sql('srcs')}" if wanted.source else ""
    return f"""
        SELECT window_start, card_id FROM (
            SELECT window_start, card_id, max(last_at) AS last,
                   {priority_sql("max(max_score)", "max(max_amount)")} AS priority{sources}
            FROM {database}.case_rollup
            WHERE {days_sql(wanted)}{_acted_only_sql(database, wanted)}
            GROUP BY window_start, card_id
            HAVING priority >= {{min_priority:UInt8}}{source})
        WHERE {status_sql(database, wanted)}
        ORDER BY priority DESC, last DESC, card_id
        LIMIT {{limit:UInt32}}"""


def queue_sql(database: str, wanted: QueueFilter, bound: Bound | None) -> str:
    """The queue's rows (CaseSummary's fields, then priority(σ, α) to check them against): the
    candidate cases of `bound` merged, filtered and ranked, the best `limit`. Without a bound, one
    card's cases are merged directly (they are few), else the `limit` that `ranked_keys_sql` chooses."""
    check = "0"
    if bound is not None:
        keys = f" AND (window_start, card_id) IN ({candidate_keys_sql(database, wanted, bound)})"
        check = priority_sql("{score:Float32}", "{amount:Float64}")
    elif wanted.card_id:
        keys = _acted_only_sql(database, wanted)
    else:
        keys = f" AND (window_start, card_id) IN ({ranked_keys_sql(database, wanted)})"
    source = f" AND {_source_sql('srcs')}" if wanted.source else ""
    return f"""
        SELECT c.case_id, c.card_id, c.window_start, if(s.status = '', 'open', s.status) AS status,
               c.priority, c.alerts, c.score, c.amount, c.first, c.last, c.srcs, c.bound
        FROM (
            SELECT concat('case-', formatDateTime(window_start, '%Y%m%d', 'UTC'), '-', card_id) AS case_id,
                   card_id, window_start, uniqExactMerge(alert_txns) AS alerts,
                   max(max_score) AS score, max(max_amount) AS amount, min(first_at) AS first,
                   max(last_at) AS last, groupUniqArrayArray(sources) AS srcs,
                   {priority_sql("score", "amount")} AS priority, {check} AS bound
            FROM {database}.case_rollup
            WHERE {days_sql(wanted)}{keys}
            GROUP BY window_start, card_id
            HAVING priority >= {{min_priority:UInt8}}{source}
        ) AS c
        LEFT JOIN (SELECT window_start, card_id, argMax(status, at) AS status
                   FROM {database}.case_actions
                   WHERE window_start >= {{since:DateTime('UTC')}}
                   GROUP BY window_start, card_id) AS s
          ON s.window_start = c.window_start AND s.card_id = c.card_id
        WHERE status IN {{statuses:Array(String)}}
        ORDER BY c.priority DESC, c.last DESC, c.card_id
        LIMIT {{limit:UInt32}}"""


def proven(rows: Sequence[Sequence[Any]], wanted: QueueFilter, bound: Bound) -> bool:
    """Whether `queue_sql`'s rows over the candidates of `bound` are the queue. A case that is no
    candidate ranks at most (priority(σ, α), λ): the last row must rank strictly above that, or, when
    fewer than `limit` rows qualify, no case that is no candidate may reach `min_priority`."""
    if not rows:
        return False
    ceiling = int(rows[0][11])
    if len(rows) < wanted.limit:
        return ceiling < wanted.min_priority
    priority, last = int(rows[-1][4]), rows[-1][9]
    if priority > ceiling:
        return True
    return priority == ceiling and bound.last is not None and naive_utc(last) > bound.last


def naive_utc(at: datetime) -> datetime:
    """UTC as a naive datetime (a naive one is UTC already): clickhouse-connect renders it as is."""
    return at if at.tzinfo is None else at.astimezone(UTC).replace(tzinfo=None)
