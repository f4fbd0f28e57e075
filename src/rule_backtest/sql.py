"""The backtest's SQL: pure builders of the two queries the runner sends (no I/O here).

`firings_sql` gives one row per transaction of the range with a Bool column per rule (`c<i>` for the
i-th enabled candidate rule, `k<j>` for the j-th enabled rule in force) and the transaction's fraud
truth. `summary_sql` counts over it. Both read the query parameters `query_parameters` returns.

The windows are those of the online evaluation (`fraudlake.scoring.rules.RuleEngine` fed by
`fraudlake.scoring.state.ServingState`), replayed in event-time order with ties broken by txn_id:

- A rule's window for a transaction at t holds the card's earlier transactions with event time in
  (t - window, t] plus the transaction itself. Earlier transactions at the same millisecond count
  (they were seen first), later ones at that millisecond do not: the RANGE frame takes every peer,
  so the peers after the transaction in the order are subtracted.
- Amounts are whole cents, rounded half to even as the online state rounds them.
- SpendBurst compares the window's total in dollars with the user's average spending over all the
  user's earlier transactions in the table (the online `user_mean_all` feature, same arithmetic);
  a user without earlier transactions has no average and the rule does not fire.

Fraud truth: a label from the `labels` table when the transaction has one (an analyst's disposition
before a chargeback, the latest of a source), else the transaction's own `is_fraud`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

from fraudlake.pipeline.spec import Rule

MINUTE_MS = 60_000
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TS = "fromUnixTimestamp64Milli({%s:Int64}, 'UTC')"


def enabled(rules: Sequence[Rule]) -> tuple[Rule, ...]:
    """The rules a set evaluates: disabled rules never fire online either."""
    return tuple(rule for rule in rules if rule.enabled)


def reach_ms(rules: Sequence[Rule]) -> int:
    """How far back of the range the windows read: the longest enabled window."""
    return max((rule.window_minutes * MINUTE_MS for rule in enabled(rules)), default=0)


def query_parameters(start: datetime, end: datetime, rules: Sequence[Rule]) -> dict[str, int]:
    """The builders' parameters: the range [start, end) and where the windows' history begins, in
    epoch ms. Naive datetimes are taken as UTC."""
    start_ms, end_ms = _epoch_ms(start), _epoch_ms(end)
    if end_ms <= start_ms:
        raise ValueError("the backtest range is empty: end must be after start")
    return {"start_ms": start_ms, "end_ms": end_ms, "history_ms": start_ms - reach_ms(rules)}


def firings_sql(database: str, candidate: Sequence[Rule], current: Sequence[Rule] = ()) -> str:
    """Per transaction in [start, end): txn_id, card_id, event_ms, fraud, label_source ('analyst',
    'chargeback' or '' for `is_fraud`) and a Bool per enabled rule, c0… (candidate) then k0… (in force)."""
    _check_identifier(database)
    rules = (*enabled(candidate), *enabled(current))
    windows = sorted({rule.window_minutes for rule in rules})
    flags = [
        f"{_fires(rule)} AS {prefix}{i}"
        for prefix, chosen in (("c", candidate), ("k", current))
        for i, rule in enumerate(enabled(chosen))
    ]
    flag_columns = "".join(f",\n    {flag}" for flag in flags)
    window_columns = "".join(
        f",\n        count() OVER w{m} AS n_all_{m}, sum(cents) OVER w{m} AS cents_all_{m}" for m in windows
    )
    window_defs = "".join(
        f",\n        w{m} AS (PARTITION BY card_id ORDER BY ms "
        f"RANGE BETWEEN {m * MINUTE_MS - 1} PRECEDING AND CURRENT ROW)"
        for m in windows
    )
    window_values = "".join(
        f",\n    n_all_{m} - later_n AS n_{m}, cents_all_{m} - later_cents AS cents_{m}" for m in windows
    )
    return f"""
WITH
scanned AS (
    SELECT txn_id, card_id, user_id, toUnixTimestamp64Milli(event_ts) AS ms,
           toInt64(round(amount * 100)) AS cents, is_fraud
    FROM {database}.transactions FINAL
    WHERE event_ts >= {_TS % "history_ms"} AND event_ts < {_TS % "end_ms"}
),
baseline AS (
    SELECT user_id, count() AS n_before, sum(toInt64(round(amount * 100))) AS cents_before
    FROM {database}.transactions FINAL
    WHERE event_ts < {_TS % "history_ms"}
    GROUP BY user_id
),
windows AS (
    SELECT txn_id, card_id, ms, is_fraud,
        count() OVER peers - row_number() OVER peers_so_far AS later_n,
        sum(cents) OVER peers - sum(cents) OVER peers_so_far AS later_cents,
        b.n_before + count() OVER user_before AS user_n,
        b.cents_before + sum(cents) OVER user_before AS user_cents{window_columns}
    FROM scanned AS s
    LEFT JOIN baseline AS b USING (user_id)
    WINDOW
        peers AS (PARTITION BY card_id, ms),
        peers_so_far AS (PARTITION BY card_id, ms ORDER BY txn_id
                         ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW),
        user_before AS (PARTITION BY user_id ORDER BY ms, txn_id
                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING){window_defs}
),
truth AS (
    SELECT txn_id,
           argMax(label, (source = 'analyst', known_at)) AS label,
           argMax(source, (source = 'analyst', known_at)) AS label_source
    FROM {database}.labels
    WHERE source IN ('analyst', 'chargeback')
    GROUP BY txn_id
),
firing AS (
    SELECT *{window_values}
    FROM windows
    WHERE ms >= {{start_ms:Int64}}
)
SELECT f.txn_id AS txn_id, f.card_id AS card_id, f.ms AS event_ms,
    if(t.label_source != '', t.label = 1, f.is_fraud = 1) AS fraud,
    t.label_source AS label_source{flag_columns}
FROM firing AS f
LEFT JOIN truth AS t ON t.txn_id = f.txn_id
SETTINGS join_use_nulls = 0
"""


def summary_sql(database: str, candidate: Sequence[Rule], current: Sequence[Rule] | None = None) -> str:
    """One row of counts over `firings_sql`: transactions, frauds, frauds by label source; per rule
    alerts and frauds caught; the same for the set (a transaction alerts once, whichever rules fire);
    with `current`, the transactions only one of the two sets alerts on."""
    cand, cur = enabled(candidate), enabled(current or ())
    cand_any = _any("c", len(cand))
    columns = [
        "count() AS transactions",
        "countIf(fraud) AS frauds",
        "countIf(label_source = 'analyst') AS analyst_labels",
        "countIf(label_source = 'chargeback') AS chargeback_labels",
        *_counts("c", range(len(cand)), cand_any),
    ]
    if current is not None:
        cur_any = _any("k", len(cur))
        columns += [
            *_counts("k", range(len(cur)), cur_any),
            f"countIf(({cand_any}) AND NOT ({cur_any})) AS added_alerts",
            f"countIf(({cand_any}) AND NOT ({cur_any}) AND fraud) AS added_caught",
            f"countIf(({cur_any}) AND NOT ({cand_any})) AS dropped_alerts",
            f"countIf(({cur_any}) AND NOT ({cand_any}) AND fraud) AS dropped_caught",
        ]
    body = ",\n    ".join(columns)
    return f"SELECT\n    {body}\nFROM (\n{firings_sql(database, candidate, current or ())}\n)"


def _fires(rule: Rule) -> str:
    """The rule's condition over a row of `firing` (RuleEngine.evaluate in SQL)."""
    m = rule.window_minutes
    count = f"n_{m} >= {rule.min_count}"
    if rule.type == "Velocity":
        return f"({count})"
    return f"({count} AND user_n > 0 AND cents_{m} / 100 > (user_cents / user_n) / 100)"


def _any(prefix: str, n: int) -> str:
    return " OR ".join(f"{prefix}{i}" for i in range(n)) or "false"


def _counts(prefix: str, indexes: range, any_rule: str) -> list[str]:
    per_rule = [
        f"countIf({prefix}{i}) AS {prefix}{i}_alerts, countIf({prefix}{i} AND fraud) AS {prefix}{i}_caught"
        for i in indexes
    ]
    return [
        *per_rule,
        f"countIf({any_rule}) AS {prefix}_alerts",
        f"countIf(({any_rule}) AND fraud) AS {prefix}_caught",
    ]


def _check_identifier(database: str) -> None:
    if not _IDENTIFIER.fullmatch(database):
        raise ValueError(f"database name {database!r} is not an identifier ([A-Za-z_][A-Za-z0-9_]*)")


def _epoch_ms(at: datetime) -> int:
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    return round(at.timestamp() * 1000)
